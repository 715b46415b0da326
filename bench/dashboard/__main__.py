"""The dashboard benchmark's run: the kept database, the migrations, the reports' figures, every
page timed, the report (settings: bench/dashboard/__init__.py).

    .venv/bin/python -m bench.dashboard
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.dashboard import AUDIT_MS, AUDIT_ROWS, QUEUE_MS, REPEAT, REPORT_MS, ROWS, STAFF, WARMUP
from bench.dashboard.cases import api_request, cases, samples_for, sign_in, staff_accounts
from bench.dashboard.measure import SqlLog, measure, report
from bench.dashboard.seed import kept_database, seed
from bench.harness import DEFAULT_PG_URL, BenchError, first_line
from privacy_service.app import create_app
from privacy_service.migrate import current, upgrade
from privacy_service.team import aggregates


def _bench_key(name: str) -> str:
    # Fixed keys (a throwaway database): the blind indexes seeded in one run match the next.
    return base64.b64encode(hashlib.sha256(f"bench-dashboard-{name}".encode()).digest()).decode()


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
    staff_ids = staff_accounts(app, rt)
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
    csrf = sign_in(client, STAFF[0])
    samples = samples_for(engine)
    samples["api_row"] = api_request(app.test_client())
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
