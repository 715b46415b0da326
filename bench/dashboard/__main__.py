"""Staff dashboard benchmark: every queue view, the request page, the audit log and the reports
over 1,000,000 requests and 10,000,000 audit entries (PostgreSQL), against the goals of issue 17.

Goals (p95 of the whole page, in-process test client, signed in as an admin): every queue view,
sort and filter < 150 ms, the request page < 150 ms, the audit page (any filter, any page)
< 300 ms, the reports and their CSV < 1 s.

Data: 1,000,000 ``requests`` rows received over two years (about 10% open: 85% of the last 60
days' requests and 3% of the older ones; 60% of the open ones assigned to one of five staff
members; some waiting for the customer), COPY'd from Python; 10,000,000 ``audit_entries`` made
by the server with ``generate_series`` (one per request-ish event, actors and actions mixed,
80% tied to a request), indexes dropped during the load and rebuilt as the migrations define
them. The chain of the synthetic entries is not valid (their hashes are placeholders); the
pages never verify it. The database is kept between runs
(``privacy_bench_dashboard_v<DATA>_<rows>_<entries>``) and reused when its data is complete;
the migrations are applied to it on each run (so a new migration is measured the way
production would get it: on the loaded tables).
``BENCH_DASHBOARD_FRESH=1`` drops and reloads it.

Each page is fetched WARMUP times, then BENCH_DASHBOARD_REPEAT times with the dashboard's
in-process caches (queue counts, reports) emptied before each fetch: the figures are what a
fetch costs when nothing is cached. Per page: p50/p95/max, median SQL time, rows shown and
the verdict against its goal; for any page over its goal, its slowest statement under
EXPLAIN (ANALYZE, BUFFERS).

Only prints figures; exits 1 when a page misses its goal. Run alone: ``.venv/bin/python
bench/dashboard.py``. Settings (environment): BENCH_DASHBOARD_ROWS (1000000),
BENCH_DASHBOARD_AUDIT (10000000), BENCH_DASHBOARD_REPEAT (20), BENCH_DASHBOARD_FRESH (0),
BENCH_DASHBOARD_ONLY (a substring: time only the pages whose name contains it),
BENCH_DATABASE_URL (PostgreSQL server, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
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

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.harness import DEFAULT_PG_URL, env_num, first_line, percentile
from privacy_service.app import create_app
from privacy_service.migrate import current, upgrade
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests import lifecycle
from privacy_service.team import aggregates
from privacy_service.team.accounts import StaffUser, create

# Bump when the seeded data changes: a kept database of another version is dropped and reloaded.
DATA_VERSION = 1
QUEUE_MS, PAGE_MS, AUDIT_MS, REPORT_MS = 150.0, 150.0, 300.0, 1000.0
WARMUP = 2
CHUNK = 100_000
EMAIL_ROWS = 5_000  # rows whose contact is a real blind index: user{i}@example.net
RECENT_DAYS = 60
RECENT_OPEN = 0.85  # share of the last RECENT_DAYS' requests still open
OLD_OPEN = 0.03
SPAN_DAYS = 730
DUE_DAYS = 21
PASSWORD = "bench password 0123456789"
STAFF = ("admin@bench.example", *(f"agent{i}@bench.example" for i in range(1, 5)))
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
    "assignee_id",
    "waiting_since",
    "version",
)
# Audit actions by weight (the common ones dominate, as in a real log).
ACTION_MIX = {
    "request.received": 12,
    "request.status_changed": 30,
    "request.verification_attempt": 10,
    "request.code_resent": 3,
    "request.assigned": 6,
    "export.downloaded": 5,
    "export.built": 20,
    "erasure.step_done": 8,
    "staff.login": 2,
    "request.note_added": 3,
    "legal_hold.placed": 1,
}
ACTOR_MIX = {"system": 50, "customer": 20, "staff": 25, "anonymous": 5}


ROWS = env_num("BENCH_DASHBOARD_ROWS", 1_000_000)
AUDIT_ROWS = env_num("BENCH_DASHBOARD_AUDIT", 10_000_000)
REPEAT = max(1, env_num("BENCH_DASHBOARD_REPEAT", 20))
FRESH = env_num("BENCH_DASHBOARD_FRESH", 0) != 0
ONLY = os.environ.get("BENCH_DASHBOARD_ONLY", "")
PLAN_LINES = 18


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which."""


def _bench_key(name: str) -> str:
    # Fixed keys (a throwaway database): the blind indexes seeded in one run match the next.
    return base64.b64encode(hashlib.sha256(f"bench-dashboard-{name}".encode()).digest()).decode()


# --- the kept database --------------------------------------------------------------------------


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def kept_database(base_url: str) -> tuple[str, str, bool]:
    """The bench database's URL, the server version, and whether its data is already loaded."""
    base = make_url(base_url)
    name = f"privacy_bench_dashboard_v{DATA_VERSION}_{ROWS}_{AUDIT_ROWS}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists and not FRESH:
                loaded = _loaded(url)
                if loaded == (ROWS, AUDIT_ROWS):
                    return url, version, True
            if exists:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url, version, False


def _loaded(url: str) -> tuple[int, int] | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT requests, audit FROM bench_meta")).first()
            return tuple(row) if row else None
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


# --- seeding ------------------------------------------------------------------------------------


def _pick(rng: random.Random, mix: dict[str, int], n: int) -> list[str]:
    return rng.choices(list(mix), weights=list(mix.values()), k=n)


def _ts(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(sep=" ")


def _chunk(rng, start: int, count: int, now: float, vault, staff_ids: list[str]) -> str:
    """``count`` request rows as COPY text (tab-separated, ``\\N`` for NULL)."""
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
        else:
            bidx = f"{rng.getrandbits(64):016x}"
        assignee = rng.choice(staff_ids) if rng.random() < (0.6 if is_open else 0.9) else "\\N"
        waiting = _ts(changed) if is_open and rng.random() < 0.05 else "\\N"
        received_ts = _ts(received)
        changed_ts = _ts(changed)
        closed_ts = "\\N" if is_open else changed_ts
        due_date = (dt.datetime.fromtimestamp(received, dt.UTC) + shanghai).date() + due
        lines.append(
            f"{rid}\t{types[k]}\t{status}\tcn\temail\t{bidx}\t\\\\x02{rng.randbytes(60).hex()}"
            f"\tzh-CN\t{received_ts}\t{due_date}\tf\t{changed_ts}"
            f"\t{closed_ts}\t{assignee}\t{waiting}\t1\n"
        )
    return "".join(lines)


def _without_indexes(conn, table: str):
    """Drop ``table``'s secondary indexes; return the statements that make them again."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
        "AND indexname NOT LIKE 'pk_%%'",
        (table,),
    ).fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def seed(url: str, vault, staff_ids: list[str]) -> dict:
    """COPY the requests, generate the audit log server-side, rebuild indexes, VACUUM ANALYZE."""
    rng = random.Random(20261202)
    now = time.time()
    timings = {}
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        started = time.perf_counter()
        remake = _without_indexes(conn, "requests")
        copy = f"COPY requests ({', '.join(COLUMNS)}) FROM STDIN"
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy) as cp:
            for start in range(0, ROWS, CHUNK):
                cp.write(_chunk(rng, start, min(CHUNK, ROWS - start), now, vault, staff_ids))
        for statement in remake:
            conn.execute(statement)
        timings["requests_s"] = time.perf_counter() - started

        started = time.perf_counter()
        remake = _without_indexes(conn, "audit_entries")
        actions = [a for a, w in ACTION_MIX.items() for _ in range(w)]
        actors = [
            f"staff:{staff_ids[i % len(staff_ids)]}" if a == "staff" else a
            for i, a in enumerate(a for a, w in ACTOR_MIX.items() for _ in range(w))
        ]
        with conn.transaction():
            # After the entries already there (the staff accounts' creation).
            base = conn.execute("SELECT seq FROM audit_head").fetchone()[0]
            conn.execute(
                "CREATE TEMP TABLE rid AS "
                "SELECT (row_number() OVER ())::int - 1 AS n, id FROM requests"
            )
            conn.execute("CREATE UNIQUE INDEX ON rid (n)")
            # Time runs with the sequence number over two years, as a real log's does; the
            # request of entry g is a fixed pseudo-random one (so each has about 8 entries).
            conn.execute(
                """
                INSERT INTO audit_entries (seq, at, actor, action, request_id, subject_id,
                                           fields, details, prev_hash, hash)
                SELECT %(base)s + g,
                       now() - make_interval(days => %(span)s)
                             + make_interval(secs => g::float8 / %(n)s * %(span)s * 86400),
                       (%(actors)s::text[])[1 + (g * 31) %% %(nactors)s],
                       (%(actions)s::text[])[1 + (g * 17) %% %(nactions)s],
                       CASE WHEN g %% 5 = 0 THEN NULL ELSE rid.id END,
                       NULL, '[]'::json, '{}'::json,
                       md5((g - 1)::text) || md5((g - 1)::text || 'h'),
                       md5(g::text) || md5(g::text || 'h')
                FROM generate_series(1, %(n)s) AS g
                LEFT JOIN rid ON rid.n = (g::bigint * 7919) %% %(rows)s
                """,
                {
                    "base": base,
                    "span": SPAN_DAYS,
                    "n": AUDIT_ROWS,
                    "rows": ROWS,
                    "actors": actors,
                    "nactors": len(actors),
                    "actions": actions,
                    "nactions": len(actions),
                },
            )
            conn.execute(
                "UPDATE audit_head SET seq = %(n)s, hash = md5(%(n)s::text) || md5(%(n)s || 'h')",
                {"n": base + AUDIT_ROWS},
            )
        timings["audit_insert_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for statement in remake:
            conn.execute(statement)
        timings["audit_indexes_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE requests")
        conn.execute("VACUUM ANALYZE audit_entries")
        timings["vacuum_s"] = time.perf_counter() - started
        conn.execute("CREATE TABLE bench_meta (requests bigint, audit bigint)")
        conn.execute("INSERT INTO bench_meta VALUES (%s, %s)", (ROWS, AUDIT_ROWS))
    return timings


# --- measuring ----------------------------------------------------------------------------------


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


def measure(sql: SqlLog, forget, case: tuple) -> dict:
    """Warm up, then time the page REPEAT times, the dashboard's caches emptied before each."""
    name, goal, call, check = case
    for _ in range(WARMUP):
        forget()
        check(call())
    sql.take()
    times, sql_ms, per_stmt = [], [], {}
    for _ in range(REPEAT):
        forget()
        sql.on = True
        t0 = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - t0) * 1e3)
        sql.on = False
        entries = sql.take()
        sql_ms.append(sum(ms for _, _, ms in entries))
        for statement, params, ms in entries:
            per_stmt.setdefault(statement, [params, []])[1].append(ms)
        check(response)
    return {
        "name": name,
        "goal": goal,
        "n": len(times),
        "p50": statistics.median(times),
        "p95": percentile(times, 95),
        "max": max(times),
        "sql_p50": statistics.median(sql_ms),
        "statements": {s: (p, statistics.median(v)) for s, (p, v) in per_stmt.items()},
        "rows": _rows_shown(response.get_data(as_text=True)),
    }


def _ok(response) -> None:
    if response.status_code != 200:
        raise BenchError(f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")


def _rows(n: int):
    def check(response) -> None:
        _ok(response)
        if _rows_shown(response.get_data(as_text=True)) != n:
            raise BenchError(f"a queue page without {n} rows")

    return check


def _contains(text: str):
    def check(response) -> None:
        _ok(response)
        if text not in response.get_data(as_text=True):
            raise BenchError(f"the page does not show {text!r}")

    return check


def _audit_rows(response) -> None:
    _ok(response)
    if response.get_data(as_text=True).count("<tr") < 2:
        raise BenchError("an audit page without entries")


def _short_sql(statement: str) -> str:
    text = re.sub(r"SELECT .*? FROM", "SELECT … FROM", " ".join(statement.split()), count=1)
    return text if len(text) <= 240 else text[:239] + "…"


def report(results: list[dict], engine) -> int:
    """The table with each page's verdict; EXPLAIN ANALYZE of the slowest statement of misses."""
    header = (
        f"{'page':<44}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'SQL p50':>9}"
        f"{'rows':>6}{'goal':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = "ok" if r["p95"] < r["goal"] else "MISSED"
        print(
            f"{r['name']:<44}{r['n']:>4}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['max']:>9.1f}"
            f"{r['sql_p50']:>9.1f}{r['rows']:>6}{r['goal']:>7.0f}  {verdict}"
        )
    missed = [r for r in results if r["p95"] >= r["goal"]]
    print()
    print(f"{len(results) - len(missed)} of {len(results)} pages within their goal (p95).")
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
    return len(missed)


def _time_refresh(app, rt) -> None:
    """The reports' per-day figures: a full rebuild (the nightly job, and the first page view
    of a new installation) and an incremental refresh (the job every minute)."""
    with app.app_context():
        s = rt.db.session
        for full in (True, False):
            t0 = time.perf_counter()
            done = aggregates.refresh(s, rt.policies.calendar, full=full)
            s.commit()
            print(
                f"  reports' per-day figures, {'full rebuild' if full else 'incremental refresh'}:"
                f" {time.perf_counter() - t0:.1f} s ({done.received_days} days of receipts, "
                f"{done.closed_days} of closures recomputed)"
            )


def _sign_in(client, email: str) -> str:
    """Sign a member in; the session's CSRF token."""
    page = client.get("/staff/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post("/staff/login", data={"csrf": csrf, "email": email, "password": PASSWORD})
    if answer.status_code != 302:
        raise BenchError(f"sign-in failed: HTTP {answer.status_code}")
    page = client.get("/staff/requests").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _staff(app, rt) -> list[str]:
    """The bench's staff accounts (made once), by id; the admin first."""
    with app.app_context():
        s = rt.db.session
        ids = []
        for i, email in enumerate(STAFF):
            user = s.scalars(sa.select(StaffUser).where(StaffUser.email == email)).first()
            if user is None:
                user = create(
                    s, email=email, role="admin" if i == 0 else "agent", password=PASSWORD
                )
                s.commit()
            ids.append(user.id)
        return ids


def _samples(engine) -> dict:
    """Ids the cases use: a request found by e-mail, one in the middle, deep cursors."""
    with engine.connect() as conn:
        q = conn.exec_driver_sql
        out = {
            "some_row": q(
                "SELECT id FROM requests ORDER BY id OFFSET %s LIMIT 1", (ROWS // 2,)
            ).scalar_one(),
            "deep_seq": q(
                "SELECT seq FROM audit_entries ORDER BY seq LIMIT 1 OFFSET %s", (AUDIT_ROWS // 2,)
            ).scalar_one(),
            "year_ago": (dt.date.today() - dt.timedelta(days=365)).isoformat(),
        }
        out["timeline_row"] = q(
            "SELECT request_id FROM audit_entries WHERE request_id IS NOT NULL ORDER BY seq DESC "
            "LIMIT 1"
        ).scalar_one()
    return out


def _api_request(client) -> str:
    """A request made through the public API (its contact is sealed, unlike the seeded rows')."""
    answer = client.post(
        "/api/v1/requests",
        json={"type": "access", "email": "bench.page@example.org"},
    )
    if answer.status_code != 202:
        raise BenchError(f"POST /api/v1/requests: HTTP {answer.status_code} {answer.get_data()!r}")
    return answer.get_json()["id"]


def cases(client, csrf: str, samples: dict, staff_ids: list[str]) -> list[tuple]:
    """(name, goal ms, call, check) for every page the goals name."""

    def get(path):
        return lambda: client.get(path)

    def search(q):
        return lambda: client.post("/staff/requests", data={"csrf": csrf, "q": q})

    def deep(path, clicks):
        # A deep page reached the way a member reaches it: following "next" from the first.
        clicks = min(clicks, max(1, ROWS // 20_000))  # a small trial database has fewer pages
        url = path
        for _ in range(clicks):
            body = client.get(url).get_data(as_text=True)
            found = re.search(r'href="\?([^"]+)" rel="next"', body)
            if not found:
                raise BenchError(f"no next page after {url}")
            url = "/staff/requests?" + found.group(1).replace("&amp;", "&")
        return url

    q = "/staff/requests"
    full = _rows(50)
    out = [
        ("queue: default (open, by due date)", QUEUE_MS, get(q), full),
        ("queue: my requests", QUEUE_MS, get(q + "?assignee=me"), full),
        ("queue: my overdue", QUEUE_MS, get(q + "?assignee=me&overdue=1"), _ok),
        ("queue: unassigned", QUEUE_MS, get(q + "?assignee=none"), full),
        ("queue: unassigned, 200 a page", QUEUE_MS, get(q + "?assignee=none&size=200"), _rows(200)),
        ("queue: overdue", QUEUE_MS, get(q + "?overdue=1"), full),
        ("queue: due within 3", QUEUE_MS, get(q + "?due_within=3"), _ok),
        ("queue: waiting for the customer", QUEUE_MS, get(q + "?waiting=1"), full),
        ("queue: all (closed too)", QUEUE_MS, get(q + "?all=1"), full),
        (f"queue: assignee={STAFF[1]}", QUEUE_MS, get(q + f"?assignee={staff_ids[1]}"), full),
    ]
    out += [
        (f"queue: status={s}", QUEUE_MS, get(q + f"?status={s}"), full) for s in lifecycle.STATUSES
    ]
    out += [(f"queue: type={t}", QUEUE_MS, get(q + f"?type={t}"), full) for t in REQUEST_TYPES]
    out += [
        ("queue: type=deletion&all=1", QUEUE_MS, get(q + "?type=deletion&all=1"), full),
        (
            "queue: status=completed&type=correction",
            QUEUE_MS,
            get(q + "?status=completed&type=correction"),
            full,
        ),
    ]
    for col in ("due", "received", "type", "status", "assignee"):
        for d in ("", "desc"):
            out.append(
                (f"queue: sort={col} {d or 'asc'}", QUEUE_MS, get(q + f"?sort={col}&dir={d}"), full)
            )
    out += [
        (
            "queue: all, sort=received desc",
            QUEUE_MS,
            get(q + "?all=1&sort=received&dir=desc"),
            full,
        ),
        ("queue: all, sort=assignee", QUEUE_MS, get(q + "?all=1&sort=assignee"), full),
        ("queue: page 2", QUEUE_MS, get(deep(q, 1)), full),
        ("queue: page 100 (next x99)", QUEUE_MS, get(deep(q, 99)), full),
        ("queue: all, page 2", QUEUE_MS, get(deep(q + "?all=1", 1)), full),
        ("queue: all, page 100 (next x99)", QUEUE_MS, get(deep(q + "?all=1", 99)), full),
        (
            "queue: all, sort=assignee, page 60",
            QUEUE_MS,
            get(deep(q + "?all=1&sort=assignee", 59)),
            full,
        ),
        (
            "queue: search request id (POST)",
            QUEUE_MS,
            search(samples["some_row"]),
            _contains(samples["some_row"][:13]),
        ),
        (
            "queue: search id prefix (POST)",
            QUEUE_MS,
            search(samples["some_row"][:13]),
            _contains(samples["some_row"][:13]),
        ),
        ("queue: search e-mail (POST)", QUEUE_MS, search("user123@example.net"), _ok),
        ("overview /staff/", QUEUE_MS, get("/staff/"), _ok),
        ("request page (API-made, sealed contact)", PAGE_MS, get(f"{q}/{samples['api_row']}"), _ok),
        (
            "request page (seeded, 8 audit entries)",
            PAGE_MS,
            get(f"{q}/{samples['timeline_row']}"),
            _ok,
        ),
    ]
    a = "/staff/audit"
    day = samples["year_ago"]
    out += [
        ("audit: first page", AUDIT_MS, get(a), _audit_rows),
        ("audit: actor=system", AUDIT_MS, get(a + "?actor=system"), _audit_rows),
        (
            "audit: actor=staff member",
            AUDIT_MS,
            get(a + f"?actor=staff:{staff_ids[2]}"),
            _audit_rows,
        ),
        ("audit: action=staff.login (rare)", AUDIT_MS, get(a + "?action=staff.login"), _audit_rows),
        (
            "audit: action=request.status_changed",
            AUDIT_MS,
            get(a + "?action=request.status_changed"),
            _audit_rows,
        ),
        (
            "audit: request=<id>",
            AUDIT_MS,
            get(a + f"?request={samples['timeline_row']}"),
            _audit_rows,
        ),
        (
            "audit: request=<first 13 chars>",
            AUDIT_MS,
            get(a + f"?request={samples['timeline_row'][:13]}"),
            _audit_rows,
        ),
        ("audit: one day a year ago", AUDIT_MS, get(a + f"?from={day}&to={day}"), _audit_rows),
        ("audit: from a year ago (open end)", AUDIT_MS, get(a + f"?from={day}"), _audit_rows),
        ("audit: up to a year ago", AUDIT_MS, get(a + f"?to={day}"), _audit_rows),
        (
            "audit: actor=system, up to a year ago",
            AUDIT_MS,
            get(a + f"?actor=system&to={day}"),
            _audit_rows,
        ),
        (
            "audit: action=staff.login, a year ago",
            AUDIT_MS,
            get(a + f"?action=staff.login&to={day}"),
            _audit_rows,
        ),
        (
            "audit: actor=customer&action=request.received",
            AUDIT_MS,
            get(a + "?actor=customer&action=request.received"),
            _ok,
        ),
        (
            "audit: deep page (seq 5,000,000)",
            AUDIT_MS,
            get(a + f"?before={samples['deep_seq']}"),
            _audit_rows,
        ),
        (
            "audit: deep page, newer",
            AUDIT_MS,
            get(a + f"?after={samples['deep_seq']}"),
            _audit_rows,
        ),
        (
            "audit: actor=system, deep page",
            AUDIT_MS,
            get(a + f"?actor=system&before={samples['deep_seq']}"),
            _audit_rows,
        ),
    ]
    today = dt.date.today()
    periods = {
        "default (3 months)": "",
        "this month": f"?from={today.replace(day=1)}&to={today}",
        "one year": f"?from={today - dt.timedelta(days=365)}&to={today}",
        "two years": f"?from={today - dt.timedelta(days=730)}&to={today}",
        "a past quarter": f"?from={today - dt.timedelta(days=400)}"
        f"&to={today - dt.timedelta(days=310)}",
    }
    out += [
        (f"reports: {k}", REPORT_MS, get("/staff/reports" + v), _ok) for k, v in periods.items()
    ]
    out += [
        ("reports CSV: default", REPORT_MS, get("/staff/reports.csv"), _ok),
        (
            "reports CSV: two years",
            REPORT_MS,
            get("/staff/reports.csv" + periods["two years"]),
            _ok,
        ),
    ]
    return [c for c in out if ONLY in c[0]]


def run(url: str, version: str, loaded: bool, workdir: Path) -> int:
    app = create_app(
        {
            "database_url": url,
            "instance_dir": str(workdir / "instance"),
            "shop_database_url": f"sqlite:///{workdir / 'shop.db'}",
            "secret_key": "x" * 40,
            "keys": "1:" + _bench_key("data"),
            "index_key": _bench_key("index"),
            "audit_key": _bench_key("audit"),
            "scheduler_enabled": False,
            # One client fetches each page many times a minute: not what the limits are for.
            "ratelimit_default": "100000 per minute",
        }
    )
    rt = app.extensions["privacy"]
    engine = rt.db.engine
    logging.getLogger("alembic").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    was = current(engine)
    upgrade(engine)
    print(f"Migrations applied ({was} to {current(engine)}, {time.perf_counter() - t0:.1f} s).")
    staff_ids = _staff(app, rt)
    if loaded:
        print(f"Reusing the loaded database ({ROWS:,} requests, {AUDIT_ROWS:,} audit entries).")
    else:
        print(f"Loading {ROWS:,} requests (COPY) and {AUDIT_ROWS:,} audit entries …", flush=True)
        timings = seed(url, rt.vault, staff_ids)
        print("  " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    if loaded and was != current(engine):
        # New migrations rewrote rows: as autovacuum would, before index-only scans pay off.
        t0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE requests")
        print(f"  VACUUM ANALYZE requests after the migrations: {time.perf_counter() - t0:.1f} s")
    _time_refresh(app, rt)
    with engine.connect() as conn:
        for table in ("requests", "audit_entries"):
            total, heap = conn.exec_driver_sql(
                f"SELECT pg_total_relation_size('{table}'), pg_relation_size('{table}')"
            ).one()
            print(f"  {table}: table {heap / 2**20:.0f} MB, with indexes {total / 2**20:.0f} MB")
    client = app.test_client()
    csrf = _sign_in(client, STAFF[0])
    samples = _samples(engine)
    samples["api_row"] = _api_request(app.test_client())
    sql = SqlLog(engine)

    def forget():
        for key in ("privacy.queue_counts", "privacy.reports", "privacy.history"):
            app.extensions.pop(key, None)

    todo = cases(client, csrf, samples, staff_ids)
    print(
        f"Measuring {len(todo)} pages: {WARMUP} warm-ups, then {REPEAT} fetches each, caches "
        "emptied before every fetch (test client, in-process)"
    )
    results = []
    for case in todo:
        t0 = time.perf_counter()
        results.append(measure(sql, forget, case))
        print(f"  {case[0]}: {time.perf_counter() - t0:.1f} s", flush=True)
    print()
    print(
        f"PostgreSQL {version}, {ROWS:,} requests, {AUDIT_ROWS:,} audit entries, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared); goals: queue and request "
        f"page p95 < {QUEUE_MS:.0f} ms, audit < {AUDIT_MS:.0f} ms, reports < {REPORT_MS:.0f} ms"
    )
    missed = report(results, engine)
    rt.db.dispose()
    return missed


def main() -> int:
    base_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
    started = time.perf_counter()
    try:
        url, version, loaded = kept_database(base_url)
        with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
            missed = run(url, version, loaded, Path(tmp))
    except (BenchError, sa.exc.SQLAlchemyError) as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 1
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
