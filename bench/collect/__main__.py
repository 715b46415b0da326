"""Collection benchmark: one customer's 1,000,000 browsing rows through ``Collector.collect``.

For each backend (PostgreSQL, SQLite): the demo shop is seeded with ``demo.seed`` (browsing rows
written with COPY on PostgreSQL), then, each in its own child process so peak memory is its own:

1. the collector (``Collector.collect(..., categories=["browsing"])``) for the demo customer,
   every row touched; rows/s and peak RSS, with the high-water mark sampled at 100,000 rows and
   at the end (memory should not grow with the row count). Goal: peak < 150 MB.
2. the bare limit: the same SELECT streamed straight from the driver (a psycopg server-side
   cursor, fetchmany 2000, on PostgreSQL; sqlite3 fetchmany on SQLite). Goal: the collector at
   least half its rate.
3. the collector over every category of the customer (browsing plus the small tables).

Only prints figures; nothing depends on it. Run alone: ``.venv/bin/python -m bench.collect``.

Settings (environment): BENCH_COLLECT_ROWS (browsing rows per customer, 1000000),
BENCH_COLLECT_CUSTOMERS (customers seeded, 2: the demo customer's rows sit among another's),
BENCH_COLLECT_REPEAT (runs of the collector and of the bare SELECT, interleaved; the fastest
of each is reported, with the highest peak; 2), BENCH_COLLECT_BACKENDS ("postgresql,sqlite"),
BENCH_COLLECT_PROFILE (1: also run the collector under cProfile and print where the time goes),
BENCH_DATABASE_URL (PostgreSQL server, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import base64
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.harness import ROOT, bench_command, each_backend, env_num
from privacy_service import demo, migrate
from privacy_service.config import DEMO_POLICIES
from privacy_service.crypto import KeyRing, Vault
from privacy_service.datamap.collect import Collector
from privacy_service.db import Database, make_engine
from privacy_service.policies import load_policies
from privacy_service.subjects.directory import find_by_contact

DEMO_EMAIL = "demo@example.com"
BATCH = 2000
CHECKPOINT = 100_000
PEAK_GOAL_MB = 150.0
RATIO_GOAL = 0.5
KEYS_ENV = "BENCH_COLLECT_KEYS"
BARE_SQL = (
    "SELECT id, kind, query, sku, device_id, occurred_at FROM browsing_events "
    "WHERE customer_id = 1 ORDER BY id"
)


ROWS = env_num("BENCH_COLLECT_ROWS", 1_000_000)
CUSTOMERS = env_num("BENCH_COLLECT_CUSTOMERS", 2)
REPEAT = max(1, env_num("BENCH_COLLECT_REPEAT", 2))
PROFILE = os.environ.get("BENCH_COLLECT_PROFILE", "0") not in ("", "0")
BACKENDS = [
    b.strip()
    for b in os.environ.get("BENCH_COLLECT_BACKENDS", "postgresql,sqlite").split(",")
    if b.strip()
]


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which."""


# --- memory -------------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    """A ``/proc/self/status`` figure (VmRSS, VmHWM) in MB; falls back to ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _watch_gc() -> dict:
    """Time the garbage collector's pauses: all of them, and the full (generation 2) ones."""
    stats = {"seconds": 0.0, "full": 0, "full_seconds": 0.0}
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        spent = time.perf_counter() - started[0]
        stats["seconds"] += spent
        if info["generation"] == 2:
            stats["full"] += 1
            stats["full_seconds"] += spent

    gc.callbacks.append(callback)
    return stats


# --- child process: one measurement -------------------------------------------------------------


def _vault() -> Vault:
    keys = json.loads(os.environ[KEYS_ENV])
    ring = KeyRing(
        keks={1: base64.b64decode(keys["kek"])},
        default_active=1,
        index_key=base64.b64decode(keys["index"]),
        audit_key=base64.b64decode(keys["audit"]),
    )
    return Vault(ring)


def _consume(batches, marks: dict) -> int:
    """Touch every row of every batch; note the RSS high-water mark at the checkpoint."""
    rows = 0
    touched = 0
    for batch in batches:
        for row in batch:
            touched += row[0] is not None
        rows += len(batch)
        if "checkpoint_mb" not in marks and rows >= CHECKPOINT:
            marks["checkpoint_mb"] = _status_mb("VmHWM")
            marks["checkpoint_rows"] = rows
    if touched != rows:
        raise BenchError(f"{rows - touched} rows without a primary key")
    return rows


def _collector_batches(spec: dict):
    policies = load_policies(DEMO_POLICIES)
    db = Database(spec["service_url"], vault=_vault())
    session = db.new_session()
    subject = find_by_contact(session, "email", DEMO_EMAIL)
    if subject is None:
        raise BenchError(f"{DEMO_EMAIL} not found in the service's directory")
    shop_engine = make_engine(spec["shop_url"])
    collector = Collector(policies.datamap, {"shop": shop_engine})
    categories = spec.get("categories")

    def batches():
        for batch in collector.collect(session, subject, categories=categories, batch_size=BATCH):
            yield batch.rows

    return batches


def _bare_batches(spec: dict):
    url = make_url(spec["shop_url"])
    if url.get_backend_name() == "postgresql":
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

        def batches():
            with psycopg.connect(conninfo) as conn, conn.cursor(name="bench") as cur:
                cur.itersize = BATCH
                cur.execute(BARE_SQL)
                while rows := cur.fetchmany(BATCH):
                    yield rows

        return batches

    def batches():
        conn = sqlite3.connect(url.database)
        try:
            cur = conn.execute(BARE_SQL)
            while rows := cur.fetchmany(BATCH):
                yield rows
        finally:
            conn.close()

    return batches


def child(spec: dict) -> dict:
    """One measurement in this (fresh) process; the result as a dict."""
    make = _collector_batches if spec["kind"] == "collector" else _bare_batches
    batches = make(spec)  # imports, keys, subject lookup: before the clock and the peak reset
    # As the app does at the end of create_app(): start-up objects leave the GC's generations.
    gc.freeze()
    base_mb = _status_mb("VmRSS")
    startup_peak_mb = _status_mb("VmHWM")
    reset = _reset_peak()
    tracked = len(gc.get_objects())
    gc_stats = _watch_gc()
    marks: dict = {}
    profile_text = None
    if spec.get("profile"):
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        rows = _consume(batches(), marks)
        profiler.disable()
        seconds = time.perf_counter() - started
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(22)
        profile_text = out.getvalue()
    else:
        started = time.perf_counter()
        rows = _consume(batches(), marks)
        seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "rate": rows / seconds if seconds else 0.0,
        "base_mb": base_mb,
        "startup_peak_mb": startup_peak_mb,
        "peak_mb": _status_mb("VmHWM"),
        "peak_reset": reset,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "checkpoint_mb": marks.get("checkpoint_mb"),
        "checkpoint_rows": marks.get("checkpoint_rows"),
        "profile": profile_text,
        "tracked_objects": tracked,
        "gc_seconds": gc_stats["seconds"],
        "gc_full": gc_stats["full"],
        "gc_full_seconds": gc_stats["full_seconds"],
    }


def run_child(spec: dict, env: dict[str, str]) -> dict:
    """Run ``child(spec)`` in a new interpreter; parse its JSON answer."""
    proc = subprocess.run(
        bench_command("collect", "--child", json.dumps(spec)),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise BenchError(f"{spec['kind']} child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- parent: databases, seed, table -------------------------------------------------------------


def seed(service_url: str, shop_url: str) -> dict:
    """Migrate the service database and seed the demo shop; seconds and row counts."""
    # A fresh Vault: it registers its key versions once per database.
    db = Database(service_url, vault=_vault())
    migrate.upgrade(db.engine)
    shop_engine = make_engine(shop_url)
    session = db.new_session()
    try:
        started = time.perf_counter()
        summary = demo.seed(
            session,
            shop_engine,
            customers=CUSTOMERS,
            browsing_per_customer=ROWS,
            orders_per_customer=12,
        )
        seconds = time.perf_counter() - started
        if summary is None:
            raise BenchError("the shop database was already seeded")
        # What a live shop database has: planner statistics (autovacuum would get there too).
        started = time.perf_counter()
        with shop_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
        analyze = time.perf_counter() - started
    finally:
        session.close()
        shop_engine.dispose()
        db.dispose()
    return {"seconds": seconds, "analyze": analyze, "rows": summary.rows}


def bench_backend(name: str, shop_url: str, workdir: Path, env: dict[str, str]) -> dict:
    """Seed, then each measurement in its own child process."""
    service_url = f"sqlite:///{workdir / f'service-{name}.db'}"
    result: dict = {"seed": seed(service_url, shop_url)}
    print(
        f"  seeded in {result['seed']['seconds']:.1f} s "
        f"({result['seed']['rows']['browsing_events']:,} browsing rows); measuring ...",
        flush=True,
    )
    common = {"service_url": service_url, "shop_url": shop_url}
    specs = {
        "bare": {**common, "kind": "bare"},
        "collector": {**common, "kind": "collector", "categories": ["browsing"]},
    }
    runs: dict[str, list[dict]] = {key: [] for key in specs}
    for _ in range(REPEAT):  # interleaved, so both see the same background load
        for key, spec in specs.items():
            runs[key].append(run_child(spec, env))
    for key, measured in runs.items():
        best = dict(max(measured, key=lambda m: m["rate"]))
        best["peak_mb"] = max(m["peak_mb"] for m in measured)
        best["rates"] = [m["rate"] for m in measured]
        result[key] = best
    result["all"] = run_child({**common, "kind": "collector", "categories": None}, env)
    result["all"]["rates"] = [result["all"]["rate"]]
    if PROFILE:
        result["profile"] = run_child(
            {**common, "kind": "collector", "categories": ["browsing"], "profile": True}, env
        )
    return result


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def report(results: dict[str, dict], skipped: dict[str, str]) -> bool:
    """Print the tables and the goal lines; True when every goal is met."""
    print()
    header = (
        f"{'backend':<11} {'rows':>9} {'collector rows/s':>17} {'bare rows/s':>12} "
        f"{'ratio':>6} {'collector peak MB':>18} {'bare peak MB':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        c, b = r["collector"], r["bare"]
        ratio = c["rate"] / b["rate"] if b["rate"] else float("nan")
        r["ratio"] = ratio
        print(
            f"{name:<11} {c['rows']:>9,} {c['rate']:>17,.0f} {b['rate']:>12,.0f} "
            f"{ratio:>6.2f} {c['peak_mb']:>18.1f} {b['peak_mb']:>13.1f}"
        )
    for name, why in skipped.items():
        print(f"{name}: skipped ({why})")
    print()
    print("memory (RSS, MB): base = after imports and setup, before the first row;")
    print(f"peak@{CHECKPOINT // 1000}k = high-water mark after the first {CHECKPOINT:,} rows")
    print(
        "gc = seconds in the cyclic garbage collector (full collections: count, seconds); "
        "objects = objects it tracks before the first row"
    )
    print(
        f"{'backend':<11} {'measurement':<22} {'base':>7} {f'peak@{CHECKPOINT // 1000}k':>10} "
        f"{'peak@end':>9} {'growth':>7} {'rows':>10} {'seconds':>8} {'gc s':>6} "
        f"{'full gc':>12} {'objects':>8}"
    )
    for name, r in results.items():
        for label, key in (
            ("collector browsing", "collector"),
            ("bare SELECT", "bare"),
            ("collector all categ.", "all"),
        ):
            m = r[key]
            at_checkpoint = f"{m['checkpoint_mb']:.1f}" if m["checkpoint_mb"] is not None else "-"
            print(
                f"{name:<11} {label:<22} {m['base_mb']:>7.1f} {at_checkpoint:>10} "
                f"{m['peak_mb']:>9.1f} {m['peak_mb'] - m['base_mb']:>+7.1f} "
                f"{m['rows']:>10,} {m['seconds']:>8.2f} {m['gc_seconds']:>6.2f} "
                f"{m['gc_full']:>4} {m['gc_full_seconds']:>5.2f} s {m['tracked_objects']:>8,}"
            )
    print()
    ok = True
    for name, r in results.items():
        c, b, a = r["collector"], r["bare"], r["all"]
        s = r["seed"]
        rate_ok = r["ratio"] >= RATIO_GOAL
        peak_ok = max(c["peak_mb"], a["peak_mb"]) < PEAK_GOAL_MB
        flat = c["checkpoint_mb"] is not None and c["peak_mb"] - c["checkpoint_mb"] < 10
        ok = ok and rate_ok and peak_ok
        print(f"{name}:")
        runs = "; ".join(
            f"{label} " + ", ".join(f"{rate:,.0f}" for rate in m["rates"])
            for label, m in (("collector", c), ("bare", b))
        )
        print(f"  ratio >= {RATIO_GOAL}: {_yes(rate_ok)} ({r['ratio']:.2f}; rows/s by run: {runs})")
        print(
            f"  peak < {PEAK_GOAL_MB:.0f} MB: {_yes(peak_ok)} "
            f"(browsing {c['peak_mb']:.1f} MB, all categories {a['peak_mb']:.1f} MB)"
        )
        if c["checkpoint_mb"] is not None:
            print(
                f"  flat: {_yes(flat)} (peak {c['checkpoint_mb']:.1f} MB after "
                f"{c['checkpoint_rows']:,} rows, {c['peak_mb']:.1f} MB after {c['rows']:,})"
            )
        print(
            f"  garbage collector: {c['gc_seconds']:.2f} s of the collector's {c['seconds']:.2f} s "
            f"({c['gc_seconds'] / c['seconds']:.0%}), {c['gc_full']} full collections over "
            f"~{c['tracked_objects']:,} tracked objects ({c['gc_full_seconds']:.2f} s); "
            f"bare SELECT {b['gc_seconds']:.2f} s"
        )
        if c["rows"] != b["rows"]:
            ok = False
            print(f"  ! collector gave {c['rows']:,} browsing rows, bare SELECT {b['rows']:,}")
        print(
            f"  all categories: {a['rows']:,} rows in {a['seconds']:.2f} s "
            f"({a['rate']:,.0f} rows/s, {a['rows'] - c['rows']:,} beyond browsing)"
        )
        print(
            f"  seed: {s['seconds']:.1f} s for {CUSTOMERS} customers x {ROWS:,} browsing rows "
            f"({sum(s['rows'].values()):,} shop rows), then ANALYZE {s['analyze']:.1f} s"
        )
        if not c["peak_reset"]:
            print("  (peak could not be reset after start-up: peaks include start-up)")
    for name, r in results.items():
        if "profile" in r:
            p = r["profile"]
            print()
            print(
                f"--- {name}: collector under cProfile ({p['rows']:,} rows, {p['seconds']:.2f} s)"
            )
            print(p["profile"].rstrip())
    return ok


def main() -> int:
    print("privacy-service collection benchmark: Collector.collect for one customer")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}"
    )
    print(
        f"data: demo shop, {CUSTOMERS} customers x {ROWS:,} browsing rows; measured: the demo "
        f"customer ({DEMO_EMAIL}), batches of {BATCH}, every row touched"
    )
    print(
        "each measurement runs in its own process (peak RSS = VmHWM, reset after start-up); "
        f"collector and bare SELECT run {REPEAT}x interleaved, the fastest run is shown."
    )
    print(
        "note: the database server and this script share the machine; figures are noisy and "
        "only meaningful side by side, measured in one run."
    )
    env = dict(os.environ)
    env[KEYS_ENV] = json.dumps(
        {k: base64.b64encode(os.urandom(32)).decode() for k in ("kek", "index", "audit")}
    )
    os.environ[KEYS_ENV] = env[KEYS_ENV]
    results, skipped, failed = each_backend(
        BACKENDS,
        lambda backend, url, workdir: bench_backend(backend, url, workdir, env),
        name="collect",
        errors=(BenchError, subprocess.TimeoutExpired, json.JSONDecodeError),
    )
    report(results, skipped)  # a missed goal is a figure, not a failure of the benchmark
    return 1 if failed or not results else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        sys.exit(0)
    sys.exit(main())
