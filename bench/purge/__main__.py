"""The purge benchmark's run: seed, clone, serve, purge twice under load, report (settings:
bench/purge/__init__.py).

    .venv/bin/python -m bench.purge     (and, as the paced client's process, --client)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.harness import DEFAULT_PG_URL, BenchError, first_line, machine
from bench.purge import BATCH, CLIENTS, CUSTOMERS, EXPIRED, IDLE, RATE, TOTAL, WARMUP
from bench.purge.client import Client, client_main, window
from bench.purge.data import Server, browsing_rule, prepare
from bench.purge.purges import bare_purge, engine_purge, remaining
from bench.purge.report import report
from bench.service import THREADS, WORKERS, gunicorn, raise_limits, service_env
from retention.engine import cutoff


def main() -> int:
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    cut = cutoff(now, browsing_rule().period)
    scaled = (TOTAL, EXPIRED) != (5_000_000, 1_000_000)
    print("privacy-service retention benchmark: purge of expired browsing rows (PostgreSQL)")
    print(f"machine: {machine()}, SQLAlchemy {sa.__version__}")
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
