"""Staff queue benchmark: ``/staff/requests`` and ``/staff/`` over 1,000,000 requests (PostgreSQL).

A fresh PostgreSQL database is migrated (so only the migrations' indexes exist), then filled
with COPY: 1,000,000 ``requests`` rows received over two years, about 10% open (85% of the last
60 days' requests, plus a stuck backlog of 3% of the older ones), the rest completed, rejected
or cancelled. An admin signs in with Flask's test client and each page is fetched in-process
(3 warm-ups, then BENCH_DASHBOARD_REPEAT times): the first page, each filter, a search by email
and by request id (POST), and the overview. Per page: p50/p95/max of the whole request, the
median time spent in SQL and in the working-day count of the rows. Goal (the issue): p95 < 150 ms.
Then, for each page's queries on ``requests``, the plan PostgreSQL picks; for any page over the
goal, its slowest statement under EXPLAIN (ANALYZE, BUFFERS).

B. The same open-queue pages (first page, type, due within, overdue) once the stuck backlog is
closed (every request older than 60 days closed; the healthy state): the plan walks the due-date
index past every closed request. These pages are timed within a time budget per page.

Only prints figures; nothing depends on it. Run alone: ``.venv/bin/python bench/dashboard.py``.

Settings (environment): BENCH_DASHBOARD_ROWS (1000000), BENCH_DASHBOARD_REPEAT (50),
BENCH_DASHBOARD_OLD_OPEN (share of the requests older than 60 days still open, 0.03),
BENCH_DASHBOARD_CLEARED (0 skips B), BENCH_DASHBOARD_B_SECONDS (time budget per page in B, 10),
BENCH_DATABASE_URL (PostgreSQL server, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from harness import DEFAULT_PG_URL, b64key, env_num, first_line, percentile, postgres_database
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent

GOAL_MS = 150.0
WARMUP = 3
CHUNK = 100_000
EMAIL_ROWS = 5_000  # rows whose contact is a real blind index: user{i}@example.net
RECENT_DAYS = 60
RECENT_OPEN = 0.85  # share of the last RECENT_DAYS' requests still open
SPAN_DAYS = 730
DUE_DAYS = 21
PASSWORD = "bench password 0123456789"
STAFF_EMAIL = "admin@bench.example"
OPEN_MIX = {
    "pending_verification": 20,
    "verified": 10,
    "awaiting_review": 35,
    "in_progress": 25,
    "cooling_off": 10,
}
CLOSED_MIX = {"completed": 78, "rejected": 8, "cancelled": 14}
TYPE_MIX = {"access": 45, "correction": 15, "deletion": 30, "account_closure": 10}
COLUMNS = (
    "id",
    "type",
    "status",
    "jurisdiction",
    "contact_kind",
    "contact_bidx",
    "contact_enc",
    "language",
    "received_at",
    "due_date",
    "due_date_provisional",
    "status_changed_at",
    "closed_at",
    "version",
)


ROWS = env_num("BENCH_DASHBOARD_ROWS", 1_000_000)
REPEAT = max(1, env_num("BENCH_DASHBOARD_REPEAT", 50))
OLD_OPEN = env_num("BENCH_DASHBOARD_OLD_OPEN", 0.03, float)
CLEARED = env_num("BENCH_DASHBOARD_CLEARED", 1) != 0
B_BUDGET_S = env_num("BENCH_DASHBOARD_B_SECONDS", 10.0, float)
MIN_REPEAT = 5
PLAN_LINES = 16
LEGEND = (
    "(n: requests timed; SQL p50: median time in the database driver per request; days p50:\n"
    " median time in WorkingCalendar.working_days_between, the rows' working days left; rows:\n"
    " rows on the page)"
)


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which."""


# --- seeding ------------------------------------------------------------------------------------


def _pick(rng: random.Random, mix: dict[str, int], n: int) -> list[str]:
    return rng.choices(list(mix), weights=list(mix.values()), k=n)


def _ts(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(sep=" ")


def _chunk(rng: random.Random, start: int, count: int, now: float, vault, ids: dict) -> str:
    """``count`` rows as COPY text (tab-separated, ``\\N`` for NULL)."""
    shanghai = dt.timedelta(hours=8)
    due = dt.timedelta(days=DUE_DAYS)
    types = _pick(rng, TYPE_MIX, count)
    open_statuses = _pick(rng, OPEN_MIX, count)
    closed_statuses = _pick(rng, CLOSED_MIX, count)
    lines = []
    for k in range(count):
        i = start + k
        age = rng.random() * SPAN_DAYS
        received = now - age * 86400
        is_open = rng.random() < (RECENT_OPEN if age < RECENT_DAYS else OLD_OPEN)
        status = open_statuses[k] if is_open else closed_statuses[k]
        changed = min(now, received + rng.random() * (3 if is_open else 25) * 86400)
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if i < EMAIL_ROWS:
            bidx = vault.blind_index("email", f"user{i}@example.net")
            if i == 123:
                ids["email_row"] = rid
        else:
            bidx = f"{rng.getrandbits(64):016x}"
        if i == ROWS // 2:
            ids["some_row"] = rid
        received_ts = _ts(received)
        changed_ts = _ts(changed)
        closed_ts = "\\N" if is_open else changed_ts
        due_date = (dt.datetime.fromtimestamp(received, dt.UTC) + shanghai).date() + due
        lines.append(
            f"{rid}\t{types[k]}\t{status}\tcn\temail\t{bidx}\t\\\\x02{rng.randbytes(60).hex()}"
            f"\tzh-CN\t{received_ts}\t{due_date}\tf\t{changed_ts}"
            f"\t{closed_ts}\t1\n"
        )
    return "".join(lines)


def seed(url: str, vault) -> dict:
    """COPY ``ROWS`` requests into the migrated database; VACUUM ANALYZE. Returns timings."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    rng = random.Random(20261123)
    now = time.time()
    ids: dict[str, str] = {}
    generate = 0.0
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY requests ({', '.join(COLUMNS)}) FROM STDIN") as cp,
        ):
            for start in range(0, ROWS, CHUNK):
                t0 = time.perf_counter()
                text = _chunk(rng, start, min(CHUNK, ROWS - start), now, vault, ids)
                generate += time.perf_counter() - t0
                cp.write(text)
        conn.commit()
    copied = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE requests")
        size = conn.execute(
            "SELECT pg_total_relation_size('requests'), pg_relation_size('requests')"
        ).fetchone()
        statuses = dict(conn.execute("SELECT status, count(*) FROM requests GROUP BY 1").fetchall())
    return {
        "copy_s": copied,
        "generate_s": generate,
        "vacuum_s": time.perf_counter() - started,
        "total_mb": size[0] / 2**20,
        "heap_mb": size[1] / 2**20,
        "statuses": statuses,
        **ids,
    }


# --- measuring ----------------------------------------------------------------------------------


class CalendarTimer:
    """Time spent in ``working_days_between`` (the queue's "working days left" column)."""

    def __init__(self, calendar):
        self.ms = 0.0
        inner = calendar.working_days_between

        def timed(start, end):
            t0 = time.perf_counter()
            try:
                return inner(start, end)
            finally:
                self.ms += (time.perf_counter() - t0) * 1e3

        calendar.working_days_between = timed

    def take(self) -> float:
        ms, self.ms = self.ms, 0.0
        return ms


class SqlLog:
    """Every statement the app's engine runs while ``on``: (sql, parameters, ms)."""

    def __init__(self, engine):
        self.on = False
        self.entries: list[tuple[str, object, float]] = []
        self._start = 0.0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn, _cursor, _statement, _parameters, _context, _many):
        self._start = time.perf_counter()

    def _after(self, _conn, _cursor, statement, parameters, _context, _many):
        if self.on:
            self.entries.append((statement, parameters, (time.perf_counter() - self._start) * 1e3))

    def take(self) -> list[tuple[str, object, float]]:
        entries, self.entries = self.entries, []
        return entries


def _rows_shown(body: str) -> int:
    # One link per row to the request itself (other links carry a suffix or a query).
    return len(re.findall(r'href="/staff/requests/[0-9a-f-]{36}"', body))


def measure(
    sql: SqlLog,
    days: CalendarTimer,
    name: str,
    call,
    check,
    *,
    warmup: int = WARMUP,
    budget_s: float | None = None,
) -> dict:
    """Warm up, then time ``call`` REPEAT times (fewer if ``budget_s`` runs out, at least
    ``MIN_REPEAT``); per statement, its median time."""
    for _ in range(warmup):
        check(call())
    sql.take()
    days.take()
    times, sql_ms, days_ms, per_stmt = [], [], [], {}
    started = time.perf_counter()
    for n in range(REPEAT):
        if budget_s and n >= MIN_REPEAT and time.perf_counter() - started > budget_s:
            break
        sql.on = True
        t0 = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - t0) * 1e3)
        sql.on = False
        entries = sql.take()
        sql_ms.append(sum(ms for _, _, ms in entries))
        days_ms.append(days.take())
        for statement, params, ms in entries:
            per_stmt.setdefault(statement, [params, []])[1].append(ms)
        check(response)
    return {
        "name": name,
        "n": len(times),
        "p50": statistics.median(times),
        "p95": percentile(times, 95),
        "max": max(times),
        "sql_p50": statistics.median(sql_ms),
        "days_p50": statistics.median(days_ms),
        "statements": {s: (p, statistics.median(v)) for s, (p, v) in per_stmt.items()},
        "rows": _rows_shown(response.get_data(as_text=True)),
    }


def _ok(response) -> None:
    if response.status_code != 200:
        raise BenchError(f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")


def _full_page(response, rows: int = 50) -> None:
    _ok(response)
    if _rows_shown(response.get_data(as_text=True)) != rows:
        raise BenchError(f"a queue page without {rows} rows")


def _is_requests_query(statement: str) -> bool:
    return "FROM requests" in statement and "staff_users" not in statement


def _plan_outline(conn, statement: str, params) -> str:
    """The plan's node names, outermost first (EXPLAIN without ANALYZE)."""
    plan = conn.exec_driver_sql(f"EXPLAIN {statement}", params).scalars().all()
    nodes = []
    for line in plan:
        text = line.strip().removeprefix("->").strip()
        if "  (cost=" in text:
            nodes.append(text.split("  (cost=")[0])
    return " > ".join(nodes)


def _short_sql(statement: str) -> str:
    text = re.sub(r"SELECT .*? FROM", "SELECT … FROM", " ".join(statement.split()), count=1)
    return text if len(text) <= 200 else text[:199] + "…"


def report(results: list[dict], engine) -> None:
    """The table, a goal line per page, each page's plans; EXPLAIN ANALYZE of the misses."""
    header = (
        f"{'page':<26}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'SQL p50':>9}"
        f"{'days p50':>9}{'rows':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['name']:<26}{r['n']:>4}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['max']:>9.1f}"
            f"{r['sql_p50']:>9.1f}{r['days_p50']:>9.1f}{r['rows']:>6}"
        )
    print()
    for r in results:
        verdict = "met" if r["p95"] < GOAL_MS else "MISSED"
        print(f"goal {r['name']}: p95 {r['p95']:.1f} ms < {GOAL_MS:.0f} ms: {verdict}")
    print()
    print("Plans of the queries on requests (EXPLAIN; [median time of the statement in the run]):")
    with engine.connect() as conn:
        for r in results:
            for statement, (params, ms) in r["statements"].items():
                if _is_requests_query(statement):
                    outline = _plan_outline(conn, statement, params)
                    print(f"  {r['name']} [{ms:.1f} ms]: {outline}")
    missed = [r for r in results if r["p95"] >= GOAL_MS]
    if not missed:
        print("No page over the goal: nothing to EXPLAIN ANALYZE.")
        return
    explained = set()
    with engine.connect() as conn:
        for r in missed:
            statement, (params, ms) = max(r["statements"].items(), key=lambda kv: kv[1][1])
            print(f"\n{r['name']}: slowest statement, median {ms:.1f} ms of {r['p50']:.1f} ms")
            print(f"  {_short_sql(statement)}")
            if statement in explained:
                print("  (plan as above)")
                continue
            explained.add(statement)
            plan = (
                conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
                .scalars()
                .all()
            )
            for line in plan[:PLAN_LINES]:
                print(f"  | {line}")
            if len(plan) > PLAN_LINES:
                print(f"  | … {len(plan) - PLAN_LINES - 1} more lines …")
                print(f"  | {plan[-1]}")


def _sign_in(client) -> str:
    """Sign the admin in; the session's CSRF token."""
    page = client.get("/staff/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/staff/login", data={"csrf": csrf, "email": STAFF_EMAIL, "password": PASSWORD}
    )
    if answer.status_code != 302:
        raise BenchError(f"sign-in failed: HTTP {answer.status_code}")
    page = client.get("/staff/requests").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _print_seed(seeded: dict, engine) -> None:
    statuses = seeded["statuses"]
    open_rows = sum(n for s, n in statuses.items() if s in OPEN_MIX)
    print(
        f"  generate {seeded['generate_s']:.1f} s, COPY (with the migrations' indexes) "
        f"{seeded['copy_s']:.1f} s in all, VACUUM ANALYZE {seeded['vacuum_s']:.1f} s; "
        f"table {seeded['heap_mb']:.0f} MB, with indexes {seeded['total_mb']:.0f} MB"
    )
    print(
        f"  open {open_rows:,} ({open_rows / ROWS:.1%}): "
        + ", ".join(f"{s} {statuses.get(s, 0):,}" for s in OPEN_MIX)
        + "; closed: "
        + ", ".join(f"{s} {statuses.get(s, 0):,}" for s in CLOSED_MIX)
    )
    with engine.connect() as conn:
        indexes = conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'requests' ORDER BY 1"
        ).scalars()
        print(f"  indexes on requests: {', '.join(indexes)}")


def run(url: str, version: str, workdir: Path) -> None:
    from privacy_service.app import create_app
    from privacy_service.migrate import upgrade
    from privacy_service.team.accounts import create

    app = create_app(
        {
            "database_url": url,
            "instance_dir": str(workdir / "instance"),
            "shop_database_url": f"sqlite:///{workdir / 'shop.db'}",
            "secret_key": "x" * 40,
            "keys": "1:" + b64key(),
            "index_key": b64key(),
            "audit_key": b64key(),
            "scheduler_enabled": False,
        }
    )
    rt = app.extensions["privacy"]
    engine = rt.db.engine
    logging.getLogger("alembic").setLevel(logging.WARNING)
    upgrade(engine)

    print(f"Seeding {ROWS:,} requests (COPY) …", flush=True)
    seeded = seed(url, rt.vault)
    _print_seed(seeded, engine)
    with app.app_context():
        create(rt.db.session, email=STAFF_EMAIL, role="admin", password=PASSWORD)
        rt.db.session.commit()
    client = app.test_client()
    csrf = _sign_in(client)

    def get(path):
        return lambda: client.get(path)

    def search(q):
        return lambda: client.post("/staff/requests", data={"csrf": csrf, "q": q})

    def found(rid):
        def check(response):
            _ok(response)
            if rid[:13] not in response.get_data(as_text=True):
                raise BenchError(f"search did not find {rid}")

        return check

    open_pages = [
        ("first page", get("/staff/requests"), _full_page),
        ("type=deletion", get("/staff/requests?type=deletion"), _full_page),
        ("due_within=3", get("/staff/requests?due_within=3"), _full_page),
        ("overdue=1", get("/staff/requests?overdue=1"), _full_page),
    ]
    cases = [
        *open_pages[:2],
        ("status=awaiting_review", get("/staff/requests?status=awaiting_review"), _full_page),
        *open_pages[2:],
        ("all=1", get("/staff/requests?all=1"), _full_page),
        ("all=1&page=100", get("/staff/requests?all=1&page=100"), _full_page),
        ("search email (POST)", search("user123@example.net"), found(seeded["email_row"])),
        ("search request id (POST)", search(seeded["some_row"]), found(seeded["some_row"])),
        ("overview /staff/", get("/staff/"), _ok),
        ("sort=received&dir=desc", get("/staff/requests?sort=received&dir=desc"), _full_page),
        ("sort=assignee", get("/staff/requests?sort=assignee"), _full_page),
        (
            "assignee=none&size=200",
            get("/staff/requests?assignee=none&size=200"),
            lambda response: _full_page(response, 200),
        ),
        ("waiting=1", get("/staff/requests?waiting=1"), _ok),
        ("reports (default 3 months)", get("/staff/reports"), _ok),
        ("audit first page", get("/staff/audit"), _ok),
        ("audit action filter", get("/staff/audit?action=staff.login"), _ok),
    ]
    sql = SqlLog(engine)
    days = CalendarTimer(rt.policies.calendar)
    print(f"Measuring: {WARMUP} warm-ups, then {REPEAT} requests each (test client, in-process)")
    results = []
    for name, call, check in cases:
        t0 = time.perf_counter()
        results.append(measure(sql, days, name, call, check))
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)

    print()
    print(
        f"A. With a stuck backlog ({OLD_OPEN:.0%} of the requests older than {RECENT_DAYS} days "
        f"still open). PostgreSQL {version}, {ROWS:,} requests, Python "
        f"{platform.python_version()}; goal p95 < {GOAL_MS:.0f} ms"
    )
    report(results, engine)
    print(LEGEND)
    if not CLEARED:
        return

    print()
    print(f"B. Backlog cleared: every request received over {RECENT_DAYS} days ago is closed.")
    t0 = time.perf_counter()
    closed = close_old(url)
    print(
        f"  closed {closed:,} old open requests, VACUUM ANALYZE: {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"Measuring the open queue: 1 warm-up, then {REPEAT} requests each or as many as "
        f"{B_BUDGET_S:.0f} s allow (at least {MIN_REPEAT})"
    )
    results = []
    for name, call, check in open_pages:
        t0 = time.perf_counter()
        results.append(measure(sql, days, name, call, check, warmup=1, budget_s=B_BUDGET_S))
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    print()
    report(results, engine)
    print(LEGEND)
    rt.db.dispose()


def close_old(url: str) -> int:
    """Scenario B: close every request received more than RECENT_DAYS days ago."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    terminal = ", ".join(f"'{s}'" for s in CLOSED_MIX)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        updated = conn.execute(
            "UPDATE requests SET status = 'completed', "
            "status_changed_at = received_at + interval '10 days', "
            "closed_at = received_at + interval '10 days' "
            f"WHERE status NOT IN ({terminal}) "
            f"AND received_at < now() - interval '{RECENT_DAYS} days'"
        ).rowcount
        conn.execute("VACUUM ANALYZE requests")
    return updated


def main() -> int:
    base_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
    started = time.perf_counter()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp,
            postgres_database(base_url, "privacy_bench_dashboard") as (url, version),
        ):
            run(url, version, Path(tmp))
    except (BenchError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 1
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
