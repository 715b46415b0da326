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

The package: this module (settings), ``client`` (the paced client's process), ``data`` (scratch
databases, seeding), ``purges`` (the two contenders), ``report``, ``__main__`` (the run).

Settings (environment): BENCH_RETENTION_TOTAL (5000000), BENCH_RETENTION_EXPIRED (1000000),
BENCH_RETENTION_CUSTOMERS (1000), BENCH_RETENTION_BATCH (5000), BENCH_RETENTION_IDLE (idle
seconds measured, 10), BENCH_RETENTION_RATE (30), BENCH_RETENTION_CLIENTS (4),
BENCH_DATABASE_URL (postgresql+psycopg://postgres@127.0.0.1:5432/postgres), BENCH_WORKERS and
BENCH_THREADS (gunicorn, as bench/run.py: 2 workers x 4 threads).
"""

from __future__ import annotations

from bench.harness import env_num

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
