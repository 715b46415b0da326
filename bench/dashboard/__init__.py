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

Only prints figures; exits 1 when a page misses its goal. Run alone: ``.venv/bin/python -m
bench.dashboard``. The package: this module (settings), ``seed`` (the kept database and its load),
``measure`` (timing a page, the report), ``cases`` (the pages and their checks), ``__main__`` (the
run). Settings (environment): BENCH_DASHBOARD_ROWS (1000000),
BENCH_DASHBOARD_AUDIT (10000000), BENCH_DASHBOARD_REPEAT (20), BENCH_DASHBOARD_FRESH (0),
BENCH_DASHBOARD_ONLY (a substring: time only the pages whose name contains it),
BENCH_DATABASE_URL (PostgreSQL server, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import os

from bench.harness import env_num

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
