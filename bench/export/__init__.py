"""Export benchmark: one customer with N browsing rows, our export beside a bare script.

For each backend of the shop database (SQLite, PostgreSQL) and each N (100,000 and 1,000,000
browsing events, plus the demo customer's orders and the rest), a fresh shop database is seeded
with ``privacy_service.demo.seed`` (one customer, demo@example.com), and then, each in its own
child process so that the peak RSS (``ru_maxrss``) belongs to one measurement only:

a) our export, exactly as ``exports.worker._write`` builds it: ``plan_categories`` for every
   category, ``Collector.collect`` per category, ``exports.assemble.build`` (JSON, CSV and HTML
   members, manifest, ZIP64 via stream-zip, deflate level 6), every chunk hashed and sealed with
   ``SealedWriter`` under the subject's data key into ``LocalStorage`` (fsync, rename);
b) the limit: a bare script that runs the same SELECTs with the plain driver (sqlite3, psycopg
   server-side cursor), writes each category as JSON (``json.dumps`` per row) and as CSV
   (``csv.writer``) into a stdlib ``zipfile.ZipFile`` (ZIP_DEFLATED level 6, ``force_zip64``)
   on a file it cannot seek, and fsyncs it. No encryption, no hashing, no HTML, no manifest.

Goals (the issue): peak RSS under 200 MB at 1,000,000 rows and at 100,000; wall time within 2x
of the bare script. Only prints figures; nothing depends on it.

    .venv/bin/python -m bench.export

The package: this module (settings, ``emit``), ``children`` (seeding a case, our export, dropping
a database), ``bare`` (the bare script), ``__main__`` (the parent and the children's dispatch).

Settings (environment): BENCH_EXPORT_SIZES ("100000,1000000"), BENCH_EXPORT_BACKENDS
("sqlite,postgresql"), BENCH_DATABASE_URL (PostgreSQL server; a database is created and dropped),
BENCH_EXPORT_REPEAT (runs of each measurement, interleaved, fastest counts; 1),
BENCH_EXPORT_PROFILE (1: run the export children under cProfile and print where time goes).
"""

from __future__ import annotations

import json
import os

from bench.harness import DEFAULT_PG_URL, env_num

PG_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
SIZES = [
    int(s.replace("_", ""))
    for s in os.environ.get("BENCH_EXPORT_SIZES", "100000,1000000").split(",")
    if s.strip()
]
BACKENDS = [
    b.strip() for b in os.environ.get("BENCH_EXPORT_BACKENDS", "sqlite,postgresql").split(",")
]
REPEAT = max(1, env_num("BENCH_EXPORT_REPEAT", 1))
PROFILE = os.environ.get("BENCH_EXPORT_PROFILE", "0") not in ("", "0")
KEYS_ENV = "BENCH_EXPORT_KEYS"
DEMO_EMAIL = "demo@example.com"
RSS_GOAL_MB = 200
RATIO_GOAL = 2.0
RESULT = "RESULT "


def emit(result: dict) -> None:
    """A child's answer: one line the parent picks out of whatever else it prints."""
    print(RESULT + json.dumps(result), flush=True)
