"""Task queue benchmark: commit -> task start, and verified -> export downloadable.

a) Commit -> task start on the embedded store (SqliteHuey) and on Redis (RedisHuey): a producer
   commits a row in a SQLite database and, in SQLAlchemy's ``after_commit`` (as
   ``privacy_service.tasks.dispatch`` does), enqueues a probe task carrying the commit time; a
   consumer in another process, configured as ``privacy worker`` configures it, records when the
   task starts. Samples are spaced so that the queue is idle (the latency of one task, not of a
   backlog). Goal (the issue): p99 under 100 ms on the production broker.
b) Verified -> downloadable, end to end over HTTP: gunicorn serving wsgi:app, a request
   submitted, the one-time code read from the outbox, ``verify`` answered, then ``GET .../export``
   polled every 25 ms until it answers 200 (faster polling takes CPU from the worker on a
   2-core machine; the rate limits are raised for the benchmark's client). Two layouts:
   * ``make run``: SQLite database, SQLite queue, a ``privacy worker`` beside the web process;
   * production: PostgreSQL database, Redis queue, a ``privacy worker`` beside the web process.
   For the demo customer (the default demo shop) and for one with 1,000 orders and 10,000,
   100,000 and 1,000,000 browsing rows (1,000,000: production layout only, one run). Goals:
   p50 under 1 s at 10,000 rows, 2 s at 100,000, 10 s at 1,000,000.

    .venv/bin/python -m bench.queue

The package: this module (settings, ``seed_arguments``), ``latency`` (a), ``end_to_end`` (b),
``__main__`` (the run).

Settings (environment): BENCH_QUEUE_SAMPLES (200), BENCH_QUEUE_RUNS (7 per small case),
BENCH_DATABASE_URL (PostgreSQL server), BENCH_REDIS_URL (redis://127.0.0.1:6379/2),
BENCH_QUEUE_LAYOUTS ("make-run,production"), BENCH_QUEUE_SIZES ("demo,10k,100k,1m").
"""

from __future__ import annotations

import os

from bench.harness import env_num

SAMPLES = env_num("BENCH_QUEUE_SAMPLES", 200)
RUNS = env_num("BENCH_QUEUE_RUNS", 7)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
LAYOUTS = [x for x in os.environ.get("BENCH_QUEUE_LAYOUTS", "make-run,production").split(",") if x]
SIZES = [x for x in os.environ.get("BENCH_QUEUE_SIZES", "demo,10k,100k,1m").split(",") if x]
POLL_SECONDS = 0.025


def seed_arguments(rows: int, customers: int = 2) -> list[str]:
    """``privacy demo seed`` arguments: ``customers`` (the demo one first) of ``rows`` browsing rows
    and 1,000 orders each (bench/load builds its 1,000,000-row customer with this too)."""
    return [
        "--customers",
        str(customers),
        "--orders-per-customer",
        "1000",
        "--browsing-per-customer",
        str(rows),
    ]
