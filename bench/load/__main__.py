"""The load test's run: the database, the service's environment, the phases, the verdict.

.venv/bin/python -m bench.load     (settings: see bench/load/__init__.py)
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

import redis

# bench/queue would shadow the standard library's queue module: keep bench/ last on the path.
from bench import queue as queue_bench
from bench.harness import DEFAULT_PG_URL, postgres_database
from bench.load import CUSTOMERS, EXPORT_ROWS, REDIS_URL
from bench.load.phases import intake_phase, load_phases
from bench.load.processes import Service
from bench.load.record import Record, Sink, smtp_sink
from bench.service import log_problems, run_privacy, service_env


def _env_for(database_url: str, instance: Path, sink: Sink) -> dict:
    env = service_env(database_url, instance)
    tag = secrets.token_hex(4)
    env.update(
        PRIVACY_SHOP_DATABASE_URL=database_url,
        PRIVACY_QUEUE_URL=REDIS_URL,
        PRIVACY_QUEUE_NAME=f"bench-load-{tag}",
        PRIVACY_RATELIMIT_STORAGE_URL=REDIS_URL,
        PRIVACY_RATELIMIT_KEY_PREFIX=f"bench-load-{tag}",
        PRIVACY_EXPORT_STORAGE="database",
        PRIVACY_TRUSTED_PROXIES="1",  # the generator forwards each customer's address
        PRIVACY_SMTP_HOST="127.0.0.1",
        PRIVACY_SMTP_PORT=str(sink.port),
    )
    return env


def _seed(env: dict) -> None:
    started = time.monotonic()
    run_privacy(env, "db", "upgrade")
    big = queue_bench.seed_arguments(EXPORT_ROWS, customers=1)
    for args in (big, ["--customers", str(CUSTOMERS + 1)]):
        run_privacy(env, "demo", "seed", *args, timeout=1800)
    print(
        f"seeded: demo@example.com with {EXPORT_ROWS:,} browsing rows and 1,000 orders, "
        f"{CUSTOMERS} customers with 200 and 12 ({time.monotonic() - started:.0f} s)",
        flush=True,
    )


def _clean_redis(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        # The rate limits' keys carry the prefix; Huey's carry the queue name without hyphens.
        for pattern in (f"*{prefix}*", f"*{prefix.replace('-', '')}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


def run(database_url: str, version: str, work: Path) -> bool:
    instance = work / "instance"
    instance.mkdir()
    record = Record()
    with smtp_sink() as sink:
        env = _env_for(database_url, instance, sink)
        _seed(env)
        service = Service(env, work)
        try:
            base = service.start()
            print(
                f"service: PostgreSQL {version}, Redis {REDIS_URL} (queue and rate limits), "
                "gunicorn -c gunicorn.conf.py --workers 2 (gevent), privacy worker (2 threads), "
                "privacy scheduler",
                flush=True,
            )
            ok = load_phases(base, record, sink, service, database_url)
            ok = intake_phase(base, record, sink, database_url) and ok
        finally:
            service.stop()
            with contextlib.suppress(Exception):
                _clean_redis(env["PRIVACY_RATELIMIT_KEY_PREFIX"])
        problems = [
            p for role in ("web", "worker", "scheduler") for p in log_problems(work / f"{role}.log")
        ]
        server_5xx = sum(
            1
            for line in (work / "web.log").read_text(errors="replace").splitlines()
            if re.search(r'" 5\d\d ', line)
        )
        print(
            f"\nserver logs: {len(problems)} problem lines, "
            f"{server_5xx} 5xx answers in the access log"
        )
        for line in problems[:5]:
            print(f"  {line[:200]}")
        print(f"SMTP sink: {sink.messages} messages received")
    return ok and not problems and not server_5xx


def main() -> int:
    print("privacy-service load test (issue 13)")
    print(
        f"machine: {os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.2f}. "
        "Service, PostgreSQL, Redis and the generator share it; figures are noisy."
    )
    base = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
    keep = os.environ.get("LOAD_KEEP_LOGS")
    with contextlib.ExitStack() as stack:
        if keep:  # the processes' logs stay there (the access log has every request's time)
            work = Path(keep)
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-")))
        try:
            with postgres_database(base, "bench_load") as (url, version):
                ok = run(url, version, work)
        except Exception as exc:
            print(f"load test FAILED: {exc}")
            return 1
    print(f"\nload test goals (0 errors, no 5xx, export built): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
