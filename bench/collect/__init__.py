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
The package: this module (settings), ``child`` (one measurement), ``report``, ``__main__`` (seed,
the children, the run).

Settings (environment): BENCH_COLLECT_ROWS (browsing rows per customer, 1000000),
BENCH_COLLECT_CUSTOMERS (customers seeded, 2: the demo customer's rows sit among another's),
BENCH_COLLECT_REPEAT (runs of the collector and of the bare SELECT, interleaved; the fastest
of each is reported, with the highest peak; 2), BENCH_COLLECT_BACKENDS ("postgresql,sqlite"),
BENCH_COLLECT_PROFILE (1: also run the collector under cProfile and print where the time goes),
BENCH_DATABASE_URL (PostgreSQL server, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import os

from bench.harness import env_num

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
