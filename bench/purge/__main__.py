"""Retention benchmark: the nightly purge of expired browsing rows on PostgreSQL.

A demo shop (``demo.seed``: customers, orders...) gets BENCH_RETENTION_TOTAL browsing rows written
with COPY, BENCH_RETENTION_EXPIRED of them older than the browsing rule's one year, spread at
random among the rest (as the demo's ``occurred_at`` is). The shop database is then cloned
(``CREATE DATABASE ... TEMPLATE``) so both contenders purge the same rows, from the same state
(VACUUM ANALYZE, then a CHECKPOINT before each purge):

1. bare: ``DELETE FROM browsing_events WHERE ctid IN (SELECT ctid ... WHERE occurred_at < cutoff
   LIMIT n)`` in a loop with psycopg, one commit per batch (on the clone);
2. engine: ``retention.engine.run(collector, policies, session, now=..., batch=n)``, every rule,
   timed per batch through its ``progress`` callback and the shop engine's events (transaction =
   ``begin`` event to the callback, i.e. up to the commit and the connection's return).

Meanwhile gunicorn (as in bench/run.py) serves ``POST /api/v1/requests`` on the service database
(same PostgreSQL server) to a paced open-loop client in its own process (BENCH_RETENTION_CLIENTS
threads, BENCH_RETENTION_RATE requests/s in all, bodies from bench/loadgen.py); its latencies are
cut into windows: idle (before any purge), during the bare loop, during the engine's run.

Goals (the issue): engine rows/s >= 0.5 x bare; longest single transaction < 1 s; p99 of the
POST during the purge < 3 x idle. Only prints figures; nothing depends on it (exit status 1 only
when it fails or a purge leaves the wrong rows). The shop gets 2 orders per customer (see ORDERS)
and the client renames loadgen.py's correction field "nickname" to "wechat_nickname" (else 422).

    .venv/bin/python -m bench.purge

Settings (environment): BENCH_RETENTION_TOTAL (5000000), BENCH_RETENTION_EXPIRED (1000000),
BENCH_RETENTION_CUSTOMERS (1000), BENCH_RETENTION_BATCH (5000), BENCH_RETENTION_IDLE (idle
seconds measured, 10), BENCH_RETENTION_RATE (30), BENCH_RETENTION_CLIENTS (4),
BENCH_DATABASE_URL (postgresql+psycopg://postgres@127.0.0.1:5432/postgres), BENCH_WORKERS and
BENCH_THREADS (gunicorn, as bench/run.py: 2 workers x 4 threads).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bench.harness import DEFAULT_PG_URL, ROOT, bench_command, env_num, first_line, percentile
from bench.loadgen import PATH, Body
from bench.run import THREADS, WORKERS, gunicorn, raise_limits, service_env
from privacy_service import demo, migrate
from privacy_service.config import DEMO_POLICIES, Settings
from privacy_service.crypto import Vault, load_keyring
from privacy_service.datamap.collect import Collector
from privacy_service.db import Database, make_engine
from privacy_service.demo.generate import PRODUCTS, SEARCHES
from privacy_service.policies import load_policies
from retention import engine as retention
from retention.engine import cutoff

RULE = "browsing_history"
WARMUP = 2.0
RATIO_GOAL = 0.5
TXN_GOAL = 1.0
P99_GOAL = 3.0
BARE_SQL = (
    "DELETE FROM browsing_events WHERE ctid IN "
    "(SELECT ctid FROM browsing_events WHERE occurred_at < %(cutoff)s LIMIT {batch})"
)


TOTAL = env_num("BENCH_RETENTION_TOTAL", 5_000_000)
EXPIRED = env_num("BENCH_RETENTION_EXPIRED", 1_000_000)
CUSTOMERS = env_num("BENCH_RETENTION_CUSTOMERS", 1000)
BATCH = env_num("BENCH_RETENTION_BATCH", 5000)
IDLE = env_num("BENCH_RETENTION_IDLE", 10.0, float)
# Two orders each: demo.bulk's BatchWriter flushes order_items (written before their order) once
# 5,000 are buffered, before the order itself, so a seed with more than ~5,000 items fails on
# the foreign key. The orders only matter to the other rules here.
ORDERS = 2
RATE = env_num("BENCH_RETENTION_RATE", 30.0, float)
CLIENTS = env_num("BENCH_RETENTION_CLIENTS", 4)


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which."""


# --- the paced client (its own process: ``--client``) ------------------------------------------


def client_main(url: str, rate: float, threads: int) -> int:
    """Send POSTs at ``rate``/s over ``threads`` keep-alive connections until stdin says stop.

    Open loop: each thread has a schedule (one request every ``threads / rate`` s); a late thread
    catches up. Prints ``{"samples": [[sent, latency, status, lag], ...], "errors": [...]}`` as
    JSON (monotonic clock seconds, comparable with the parent's ``time.monotonic()``).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    stop = threading.Event()
    interval = threads / rate
    start = time.monotonic() + 0.1
    results: list[list] = [[] for _ in range(threads)]
    details: list[str] = []

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        bodies = Body(index, seed=7)
        out = results[index]
        k = 0
        while not stop.is_set():
            due = start + (k + index / threads) * interval
            k += 1
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            _kind, payload = bodies.next()
            # loadgen.py's corrections name "nickname", which the data map does not know (422).
            payload = payload.replace(b'"field": "nickname"', b'"field": "wechat_nickname"')
            t0 = time.monotonic()
            try:
                conn.request("POST", PATH, body=payload, headers=headers)
                resp = conn.getresponse()
                answer = resp.read()
                status = resp.status
                if status != 202 and len(details) < 5:
                    details.append(f"{status} {answer[:200].decode('utf-8', 'replace')}")
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            out.append((t0, time.monotonic() - t0, status, max(0.0, t0 - due)))
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    sys.stdin.readline()
    stop.set()
    for t in pool:
        t.join(35)
    json.dump({"samples": sorted(r for rs in results for r in rs), "errors": details}, sys.stdout)
    sys.stdout.write("\n")
    return 0


class Client:
    """The paced client's process: started now, stopped (and read) by ``stop``."""

    def __init__(self, url: str):
        self.proc = subprocess.Popen(
            bench_command(
                "purge",
                "--client",
                "--url",
                url,
                "--rate",
                str(RATE),
                "--threads",
                str(CLIENTS),
            ),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> list:
        out, err = self.proc.communicate("stop\n", timeout=60)
        if self.proc.returncode != 0:
            raise BenchError(f"client failed ({self.proc.returncode}):\n{err[-2000:]}")
        return json.loads(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def window(samples: list, start: float, end: float) -> dict:
    """Latency figures (ms) of the requests sent in [start, end)."""
    inside = [s for s in samples if start <= s[0] < end]
    ms = sorted(s[1] * 1000 for s in inside)
    late = sorted((s[1] + s[3]) * 1000 for s in inside)  # from the scheduled send
    errors = [s for s in inside if s[2] != 202]
    return {
        "seconds": end - start,
        "count": len(inside),
        "rps": len(inside) / (end - start) if end > start else 0.0,
        "p50": percentile(ms, 50, empty=float("nan")),
        "p90": percentile(ms, 90, empty=float("nan")),
        "p99": percentile(ms, 99, empty=float("nan")),
        "max": ms[-1] if ms else float("nan"),
        "p99_sched": percentile(late, 99, empty=float("nan")),
        "errors": len(errors),
        "statuses": sorted({str(s[2]) for s in errors}),
    }


# --- databases ----------------------------------------------------------------------------------


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Server:
    """The PostgreSQL server: databases created here are dropped (WITH (FORCE)) by ``close``."""

    def __init__(self, base_url: str):
        self.base = make_url(base_url)
        self.admin = sa.create_engine(
            self.base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        self.created: list[str] = []
        self.tag = secrets.token_hex(4)

    def sql(self, statement: str):
        with self.admin.connect() as conn:
            result = conn.execute(sa.text(statement))
            return result.scalar() if result.returns_rows else None

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def create(self, role: str, template: str | None = None) -> tuple[str, str]:
        name = f"privacy_bench_retention_{self.tag}_{role}"
        clause = ""
        if template:
            clause = f' TEMPLATE "{template}"'
            if self.version_num() >= 150000:
                clause += " STRATEGY FILE_COPY"  # copy the files, not a WAL record per block
        self.created.append(name)
        self.sql(f'CREATE DATABASE "{name}"{clause}')
        return name, self.url(name)

    def drop(self, name: str) -> None:
        try:
            self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except sa.exc.SQLAlchemyError as exc:
            print(f"warning: could not drop {name}: {first_line(exc)}", file=sys.stderr)
            return
        if name in self.created:
            self.created.remove(name)

    def version_num(self) -> int:
        return int(self.sql("SHOW server_version_num"))

    def checkpoint(self) -> bool:
        try:
            self.sql("CHECKPOINT")
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.dispose()


# --- seeding ------------------------------------------------------------------------------------


def vault_for(env: dict[str, str]) -> Vault:
    """The service's vault, from the same environment gunicorn gets."""
    return Vault(load_keyring(Settings.load(env)))


def _shapes() -> list[str]:
    shapes = [f"search\t{q}\t\\N" for q in SEARCHES]
    for kind in ("view", "view", "click"):
        shapes += [f"{kind}\t\\N\t{sku}" for sku, *_ in PRODUCTS]
    return shapes


def copy_browsing(shop_url: str, cut: dt.datetime) -> float:
    """COPY TOTAL rows, EXPIRED of them (at random) older than ``cut``, the rest younger."""
    rng = random.Random(2024)  # reproducible on purpose
    hour = dt.timedelta(hours=1)
    # Hour prefixes: expired = up to two years before the cut-off (at least 1 h before it),
    # kept = from the cut-off to a day before now; minutes and seconds are added at random.
    old = [(cut - (h + 1) * hour).strftime("%Y-%m-%d %H") for h in range(2 * 8760)]
    young = [(cut + h * hour).strftime("%Y-%m-%d %H") for h in range(8760 - 24)]
    mmss = [f"{m:02d}:{s:02d}+00" for m in range(60) for s in range(60)]
    shapes = _shapes()
    per_customer = -(-TOTAL // CUSTOMERS)
    devices = [f"dev-{c:08x}" for c in range(CUSTOMERS + 1)]
    left, left_expired = TOTAL, EXPIRED
    choice, rand = rng.choice, rng.random
    started = time.perf_counter()
    columns = "id, customer_id, kind, query, sku, device_id, occurred_at"
    with (
        psycopg.connect(_libpq(shop_url)) as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY browsing_events ({columns}) FROM STDIN") as copy,
    ):
        lines: list[str] = []
        for i in range(1, TOTAL + 1):
            c = (i - 1) // per_customer + 1
            if rand() * left < left_expired:  # selection sampling: exactly EXPIRED rows
                left_expired -= 1
                prefix = choice(old)
            else:
                prefix = choice(young)
            left -= 1
            lines.append(f"{i}\t{c}\t{choice(shapes)}\t{devices[c]}\t{prefix}:{choice(mmss)}\n")
            if len(lines) >= 50_000:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))
    return time.perf_counter() - started


def prepare(env: dict[str, str], service_url: str, shop_url: str, now: dt.datetime) -> dict:
    """Migrate the service database, seed the shop, COPY the browsing rows, VACUUM ANALYZE."""
    db = Database(service_url, vault=vault_for(env))
    shop_engine = make_engine(shop_url)
    timings = {}
    try:
        migrate.upgrade(db.engine)
        session = db.new_session()
        started = time.perf_counter()
        summary = demo.seed(
            session,
            shop_engine,
            customers=CUSTOMERS,
            orders_per_customer=ORDERS,
            browsing_per_customer=0,
            now=now,
        )
        session.close()
        if summary is None:
            raise BenchError("the shop database was already seeded")
        timings["seed"] = time.perf_counter() - started
        timings["rows"] = summary.rows
    finally:
        shop_engine.dispose()
        db.dispose()
    timings["copy"] = copy_browsing(shop_url, cutoff(now, _browsing_rule().period))
    started = time.perf_counter()

    with psycopg.connect(_libpq(shop_url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        timings["size"] = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('browsing_events'))"
        ).fetchone()[0]
        timings["expired"], timings["total"] = conn.execute(
            "SELECT count(*) FILTER (WHERE occurred_at < %s), count(*) FROM browsing_events",
            (cutoff(now, _browsing_rule().period),),
        ).fetchone()
    timings["vacuum"] = time.perf_counter() - started
    return timings


_POLICIES = None


def _policies():
    global _POLICIES
    if _POLICIES is None:
        _POLICIES = load_policies(DEMO_POLICIES)
    return _POLICIES


def _browsing_rule():
    return next(r for r in _policies().retention.rules if r.id == RULE)


# --- the two purges -----------------------------------------------------------------------------


def _summary(batches: list[dict], seconds: float, rows: int) -> dict:
    txns = sorted(b["txn"] for b in batches)
    return {
        "rows": rows,
        "seconds": seconds,
        "rate": rows / seconds if seconds else 0.0,
        "batches": len(batches),
        "txn_max": txns[-1] if txns else 0.0,
        "txn_p50": percentile(txns, 50, empty=float("nan")),
        "txn_p99": percentile(txns, 99, empty=float("nan")),
        "batch_list": batches,
    }


def bare_purge(shop_url: str, cut: dt.datetime) -> dict:
    """The reference: ctid batches with psycopg, one commit each; per-batch timings."""
    statement = BARE_SQL.format(batch=int(BATCH))
    batches = []
    rows = 0
    with psycopg.connect(_libpq(shop_url)) as conn:
        plan = [
            r[0]
            for r in conn.execute("EXPLAIN " + statement, {"cutoff": cut}).fetchall()
            if "->" in r[0] or not r[0].startswith(" ")
        ]
        conn.rollback()
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            n = conn.execute(statement, {"cutoff": cut}).rowcount
            t1 = time.perf_counter()
            conn.commit()
            t2 = time.perf_counter()
            if n <= 0:
                break
            rows += n
            batches.append({"rows": n, "txn": t2 - t0, "sql": t1 - t0, "commit": t2 - t1})
        seconds = time.perf_counter() - started
    result = _summary(batches, seconds, rows)
    result["plan"] = plan
    return result


class EngineClock:
    """Per-batch timings of the engine from the shop engine's events and the progress callback."""

    def __init__(self, engine):
        self.batches: list[dict] = []
        self.begun = self.committed = self.sent = 0.0
        self.commits: list[float] = []
        self.sql: dict[str, float] = {}
        self.statements: dict[str, str] = {}
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _begin(self, _conn) -> None:
        self.begun = time.perf_counter()
        self.sql = {}

    def _commit(self, _conn) -> None:
        self.committed = time.perf_counter()
        self.commits.append(self.committed)

    def _before(self, _conn, _cursor, statement, *_args) -> None:
        self.sent = time.perf_counter()

    def _after(self, _conn, _cursor, statement, params, *_args) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        self.sql[verb] = self.sql.get(verb, 0.0) + time.perf_counter() - self.sent
        if verb not in self.statements:
            n = len(params) if isinstance(params, (list, tuple, dict)) else 0
            self.statements[verb] = f"{' '.join(statement.split())[:150]} ... ({n} parameters)"

    def progress(self, rule: str, n: int) -> None:
        now = time.perf_counter()
        self.batches.append(
            {
                "rule": rule,
                "rows": n,
                "txn": now - self.begun,
                "select": self.sql.get("SELECT", 0.0),
                "sql": sum(v for k, v in self.sql.items() if k != "SELECT"),
                "commit": now - self.committed,
                "at": now,
            }
        )


def engine_purge(env: dict[str, str], service_url: str, shop_url: str, now: dt.datetime) -> dict:
    """``retention.engine.run`` over the shop, every rule; the browsing rule's batch timings."""
    policies = _policies()
    db = Database(service_url, vault=vault_for(env))  # the run's audit entries are MACed
    shop_engine = make_engine(shop_url)
    collector = Collector(policies.datamap, {"shop": shop_engine})
    collector.table("shop", "browsing_events")  # reflect before the clock (once per collector)
    clock = EngineClock(shop_engine)
    session = db.new_session()
    try:
        started = time.perf_counter()
        record = retention.run(
            collector, policies, session, now=now, batch=BATCH, progress=clock.progress
        )
        seconds = time.perf_counter() - started
        counts, errors, status = record.counts, record.errors, record.status
    finally:
        session.close()
        shop_engine.dispose()
        db.dispose()
    mine = [b for b in clock.batches if b["rule"] == RULE]
    # The rule's span: its first transaction's begin to the commit of the (empty) selection
    # that ends it, the first commit after its last batch.
    span = 0.0
    if mine:
        end = next((t for t in clock.commits if t > mine[-1]["at"]), mine[-1]["at"])
        span = end - (mine[0]["at"] - mine[0]["txn"])
    result = _summary(mine, span, counts.get(RULE, {}).get("browsing_events", 0))
    result.update(
        run_seconds=seconds,
        counts=counts,
        errors=errors,
        status=status,
        all_txn_max=max((b["txn"] for b in clock.batches), default=0.0),
        other_batches=len(clock.batches) - len(mine),
        statements=clock.statements,
    )
    return result


def remaining(shop_url: str, cut: dt.datetime) -> tuple[int, int]:
    with psycopg.connect(_libpq(shop_url)) as conn:
        return conn.execute(
            "SELECT count(*) FILTER (WHERE occurred_at < %s), count(*) FROM browsing_events",
            (cut,),
        ).fetchone()


# --- report -------------------------------------------------------------------------------------


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _split(batches: list[dict]) -> str:
    if not batches:
        return "-"
    n = len(batches)
    txn = sum(b["txn"] for b in batches) / n * 1000
    parts = []
    if "select" in batches[0]:
        parts.append(f"SELECT ids {sum(b['select'] for b in batches) / n * 1000:.0f}")
    parts.append(f"DELETE/UPDATE execute {sum(b['sql'] for b in batches) / n * 1000:.0f}")
    parts.append(f"commit {sum(b['commit'] for b in batches) / n * 1000:.0f}")
    rest = txn - sum(
        sum(b.get(k, 0.0) for b in batches) / n * 1000 for k in ("select", "sql", "commit")
    )
    parts.append(f"Python/driver {rest:.0f}")
    return f"{txn:.0f} ms = " + " + ".join(parts) + " ms"


def report(prep: dict, bare: dict, eng: dict, lat: dict, checks: dict) -> bool:
    """Print the tables, the goal lines and the breakdown; False when rows are left over."""
    print()
    print(
        f"{'purge (browsing rule)':<24} {'rows':>10} {'seconds':>8} {'rows/s':>9} "
        f"{'batches':>8} {'txn max':>8} {'txn p99':>8} {'txn p50':>8}"
    )
    print("-" * 91)
    for label, r in (("bare ctid DELETE loop", bare), ("retention.engine.run", eng)):
        print(
            f"{label:<24} {r['rows']:>10,} {r['seconds']:>8.2f} {r['rate']:>9,.0f} "
            f"{r['batches']:>8} {r['txn_max'] * 1000:>6.0f}ms {r['txn_p99'] * 1000:>6.0f}ms "
            f"{r['txn_p50'] * 1000:>6.0f}ms"
        )
    print()
    print(
        f"{'POST /api/v1/requests':<24} {'seconds':>8} {'requests':>9} {'req/s':>7} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99*':>8} {'errors':>7}"
    )
    print("-" * 103)
    for label, key in (
        ("idle", "idle"),
        ("during bare loop", "bare"),
        ("during engine run", "engine"),
    ):
        w = lat[key]
        print(
            f"{label:<24} {w['seconds']:>8.1f} {w['count']:>9} {w['rps']:>7.1f} "
            f"{w['p50']:>8.1f} {w['p90']:>8.1f} {w['p99']:>8.1f} {w['max']:>8.1f} "
            f"{w['p99_sched']:>8.1f} {w['errors']:>7}"
        )
    print("p99* = from the scheduled send time (counts a client thread's own lateness too)")
    ratio = eng["rate"] / bare["rate"] if bare["rate"] else float("nan")
    idle_p99 = lat["idle"]["p99"]
    p99_ratio = lat["engine"]["p99"] / idle_p99 if idle_p99 else float("nan")
    bare_p99_ratio = lat["bare"]["p99"] / idle_p99 if idle_p99 else float("nan")
    ok_rate = ratio >= RATIO_GOAL
    ok_txn = eng["all_txn_max"] < TXN_GOAL
    ok_p99 = p99_ratio < P99_GOAL
    print()
    print(f"goal engine/bare rows/s >= {RATIO_GOAL}: {_yes(ok_rate)} ({ratio:.2f})")
    print(
        f"goal longest single transaction < {TXN_GOAL:g} s: {_yes(ok_txn)} "
        f"(engine {eng['all_txn_max'] * 1000:.0f} ms over all its {eng['batches']} + "
        f"{eng['other_batches']} batches; bare loop {bare['txn_max'] * 1000:.0f} ms)"
    )
    print(
        f"goal p99 during purge < {P99_GOAL:g} x idle: {_yes(ok_p99)} "
        f"({lat['engine']['p99']:.1f} / {idle_p99:.1f} ms = {p99_ratio:.2f}x; "
        f"during the bare loop {bare_p99_ratio:.2f}x)"
    )
    print()
    print(
        "where a batch's time goes (mean per batch, wall clock in this process; execute = "
        "cursor.execute: driver's query conversion, round trip, server; Python/driver = the rest: "
        "SQLAlchemy compilation, fetching, pool):"
    )
    print(f"  bare:   {_split(bare['batch_list'])}")
    print(f"  engine: {_split(eng['batch_list'])}")
    for verb, text in eng["statements"].items():
        print(f"  engine {verb}: {text}")
    plan = (re.sub(r"\s+\(cost=[^)]*\)", "", line).strip() for line in bare["plan"])
    print("  bare plan: " + " | ".join(plan))
    print()
    third = max(1, len(eng["batch_list"]) // 3)
    for label, r in (("bare", bare), ("engine", eng)):
        b = r["batch_list"]
        if len(b) >= 3:
            thirds = [b[:third], b[third:-third], b[-third:]]
            means = ", ".join(f"{sum(x['txn'] for x in t) / len(t) * 1000:.0f}" for t in thirds)
            print(f"{label}: mean batch ms over first / middle / last third: {means}")
    others = {k: v for k, v in eng["counts"].items() if k != RULE}
    print(
        f"engine run: status {eng['status']}, {eng['run_seconds']:.2f} s in all "
        f"(browsing rule {eng['seconds']:.2f} s); other rules: {json.dumps(others)}"
    )
    if eng["errors"]:
        print(f"  ! engine errors: {eng['errors']}")
    good = checks["bare"] == (0, TOTAL - EXPIRED) and checks["engine"] == (0, TOTAL - EXPIRED)
    print(
        f"check: expired/total rows left: bare {checks['bare']}, engine {checks['engine']} "
        f"(expected (0, {TOTAL - EXPIRED})): {'ok' if good else 'MISMATCH'}"
    )
    for key in ("idle", "bare", "engine"):
        if lat[key]["errors"]:
            print(f"  ! {key}: {lat[key]['errors']} non-202 answers: {lat[key]['statuses']}")
    for detail in lat["details"][:3]:
        print(f"    e.g. {detail[:160]!r}")
    print(
        f"setup: seed {prep['seed']:.1f} s ({CUSTOMERS} customers), COPY {prep['copy']:.1f} s, "
        f"VACUUM ANALYZE {prep['vacuum']:.1f} s, clone {prep['clone']:.1f} s; "
        f"browsing_events {prep['size']} (table + indexes)"
    )
    return good


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    cut = cutoff(now, _browsing_rule().period)
    scaled = (TOTAL, EXPIRED) != (5_000_000, 1_000_000)
    print("privacy-service retention benchmark: purge of expired browsing rows (PostgreSQL)")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}"
    )
    print(
        f"data: {EXPIRED:,} expired among {TOTAL:,} browsing rows ({CUSTOMERS} customers), "
        f"expired at random positions; batch {BATCH}; now {now:%Y-%m-%d %H:%M}Z, "
        f"cut-off {cut:%Y-%m-%d %H:%M}Z" + (" (scaled down from 1M among 5M)" if scaled else "")
    )
    print(
        f"load: paced client in its own process, {CLIENTS} keep-alive connections, {RATE:g} req/s "
        f"in all; gunicorn {WORKERS} workers x {THREADS} threads; {IDLE:g} s idle window"
    )
    print(
        "note: PostgreSQL, gunicorn, the client and the purge share this machine (and anything "
        "else running on it); figures are noisy."
    )
    server = Server(os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL))
    client = None
    try:
        try:
            version = server.sql("SHOW server_version")
            settings = {
                k: server.sql(f"SHOW {k}")
                for k in ("shared_buffers", "max_wal_size", "synchronous_commit", "autovacuum")
            }
        except sa.exc.SQLAlchemyError as exc:
            print(f"PostgreSQL unreachable: {first_line(exc)}")
            return 1
        print(
            f"server: PostgreSQL {version}, " + ", ".join(f"{k} {v}" for k, v in settings.items())
        )
        _service_db, service_url = server.create("service")
        shop_db, shop_url = server.create("shop")
        with tempfile.TemporaryDirectory(prefix="privacy-bench-retention-") as tmp:
            workdir = Path(tmp)
            instance = workdir / "instance"
            instance.mkdir()
            env = raise_limits(service_env(service_url, instance))
            env["PRIVACY_SHOP_DATABASE_URL"] = shop_url
            print("seeding ...", flush=True)
            prep = prepare(env, service_url, shop_url, now)
            if (prep["expired"], prep["total"]) != (EXPIRED, TOTAL):
                raise BenchError(f"seeded {prep['expired']} expired of {prep['total']} rows")
            started = time.perf_counter()
            bare_db, bare_url = server.create("bare", template=shop_db)
            prep["clone"] = time.perf_counter() - started
            log_path = workdir / "gunicorn.log"
            marks = {}
            with gunicorn(env, log_path) as url:
                client = Client(url)
                time.sleep(WARMUP)
                marks["idle"] = (time.monotonic(), time.monotonic() + IDLE)
                time.sleep(IDLE)
                print("bare DELETE loop ...", flush=True)
                server.checkpoint()
                t0 = time.monotonic()
                bare = bare_purge(bare_url, cut)
                marks["bare"] = (t0, time.monotonic())
                checks = {"bare": tuple(remaining(bare_url, cut))}
                server.drop(bare_db)
                print("retention.engine.run ...", flush=True)
                server.checkpoint()
                time.sleep(1.0)
                t0 = time.monotonic()
                eng = engine_purge(env, service_url, shop_url, now)
                marks["engine"] = (t0, time.monotonic())
                answers = client.stop()
                client = None
            checks["engine"] = tuple(remaining(shop_url, cut))
            lat = {k: window(answers["samples"], *span) for k, span in marks.items()}
            lat["details"] = answers["errors"]
            problems = [
                line
                for line in log_path.read_text(errors="replace").splitlines()
                if "Traceback" in line or "ERROR" in line or "TIMEOUT" in line
            ]
            ok = report(prep, bare, eng, lat, checks)
            if problems:
                print(f"  ! {len(problems)} problem lines in the gunicorn log, e.g. {problems[0]}")
        return 0 if ok else 1  # goals missed are figures; wrong row counts are a failure
    except (BenchError, subprocess.TimeoutExpired, sa.exc.SQLAlchemyError) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.kill()
        server.close()


if __name__ == "__main__":
    if "--client" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--client", action="store_true")
        parser.add_argument("--url", required=True)
        parser.add_argument("--rate", type=float, required=True)
        parser.add_argument("--threads", type=int, required=True)
        a = parser.parse_args()
        sys.exit(client_main(a.url, a.rate, a.threads))
    sys.exit(main())
