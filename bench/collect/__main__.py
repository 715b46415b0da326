"""The collection benchmark's run: per backend, seed the shop, then each measurement in a child
process of its own (settings: bench/collect/__init__.py).

    .venv/bin/python -m bench.collect      (a measurement: --child SPEC)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from bench.collect import BACKENDS, BATCH, CUSTOMERS, DEMO_EMAIL, KEYS_ENV, PROFILE, REPEAT, ROWS
from bench.collect.child import child
from bench.collect.report import report
from bench.harness import (
    ROOT,
    BenchError,
    bench_command,
    each_backend,
    keys_json,
    machine,
    vault_from_json,
)
from privacy_service import demo, migrate
from privacy_service.db import Database, make_engine


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
    db = Database(service_url, vault=vault_from_json(os.environ[KEYS_ENV]))
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


def main() -> int:
    print("privacy-service collection benchmark: Collector.collect for one customer")
    print(f"machine: {machine()}, SQLAlchemy {sa.__version__}")
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
    env[KEYS_ENV] = keys_json()
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
