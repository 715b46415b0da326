"""Load test: the production layout under a mixed workload at its highest sustained rate.

The service runs as docs/deploy.md describes it for one machine: a fresh PostgreSQL database
(migrated, the demo shop seeded with ``LOAD_CUSTOMERS`` customers plus one of 1,000,000 browsing
rows), Redis as the queue broker and the rate-limit store, ``gunicorn -c gunicorn.conf.py
--workers 2`` (gevent), one ``privacy worker`` and one ``privacy scheduler``, each its own
process. Codes go out by SMTP to a sink (aiosmtpd) inside this process, which reads them back.

The load generator (threads, ``http.client``, one keep-alive connection per virtual customer)
plays customers and staff:

* customers, each journey from an address of its own: access requests over the API (file, read
  the code from the sink, sometimes a wrong code first, verify, read the status until the export
  is ready, download it), the same on the pages (form, code page, status page polling its
  progress, download), corrections over the API, requests for contacts that are no customer's
  (API and form), and visits that only read the pages and switch language;
* staff (``LOAD_STAFF``, signed in once): the queue, the overview and a request's page, one page
  a second each.

The generator stands where a reverse proxy would: it sends each virtual customer's address in
``X-Forwarded-For`` and the service trusts one proxy (``PRIVACY_TRUSTED_PROXIES=1``), so every
rate limit keeps its default and counts per customer as in production. Nothing is raised.

Phases: a ramp (``LOAD_RAMP`` virtual customers, ``LOAD_RAMP_SECONDS`` each) stops at the first
level with an error, a p99 above ``LOAD_P99_MS`` or under 5 % more requests/s than the best
level so far; the steady phase then runs ``LOAD_SECONDS`` at the best level (``LOAD_CLIENTS``
skips the ramp). Last, intake (``POST /api/v1/requests``) at ``LOAD_INTAKE_RATE`` per second,
idle and then while the worker builds the 1,000,000-row customer's export.

    make bench BENCH_ONLY=load                     # or: .venv/bin/python -m bench.load
    LOAD_SECONDS=60 .venv/bin/python -m bench.load

The package: this module (settings), ``record`` (what the generator records, the SMTP sink),
``client`` (one keep-alive connection), ``journeys`` (customers and staff), ``processes`` (the
service's processes and their meter), ``phases`` (ramp, steady phase, intake), ``__main__`` (the
run).

Settings (environment): LOAD_SECONDS (steady phase, 600), LOAD_CLIENTS (fixed level, no ramp),
LOAD_RAMP ("4,8,16,24,32,48,64"), LOAD_RAMP_SECONDS (20), LOAD_P99_MS (1000), LOAD_CUSTOMERS
(1000), LOAD_STAFF (2), LOAD_EXPORT_ROWS (1000000), LOAD_INTAKE_RATE (5, per second: well under
what the server can take, so the comparison shows the export's effect, not a queue),
LOAD_INTAKE_SECONDS (20), LOAD_REDIS_URL (redis://127.0.0.1:6379/3), BENCH_DATABASE_URL (the
PostgreSQL server), LOAD_KEEP_LOGS (a directory: keep the processes' logs there).
"""

from __future__ import annotations

import os

from bench.harness import env_num

SECONDS = env_num("LOAD_SECONDS", 600.0, float)
FIXED_CLIENTS = env_num("LOAD_CLIENTS", 0)
RAMP = [int(x) for x in os.environ.get("LOAD_RAMP", "4,8,16,24,32,48,64").split(",") if x]
RAMP_SECONDS = env_num("LOAD_RAMP_SECONDS", 20.0, float)
P99_BOUND_MS = env_num("LOAD_P99_MS", 1000.0, float)
CUSTOMERS = env_num("LOAD_CUSTOMERS", 1000)
STAFF = env_num("LOAD_STAFF", 2)
EXPORT_ROWS = env_num("LOAD_EXPORT_ROWS", 1_000_000)
INTAKE_RATE = env_num("LOAD_INTAKE_RATE", 5.0, float)
INTAKE_SECONDS = env_num("LOAD_INTAKE_SECONDS", 20.0, float)
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/3")
WARMUP = 5.0  # seconds of each phase not measured (connections, caches)
POLL = 0.5  # how often a waiting customer reads the status (the status page polls every 2 s)
EXPORT_WAIT = 180.0  # a small export not downloadable after this long is an error
STAFF_THINK = 1.0
STAFF_LOGIN = ("admin@shop.example", "demo-admin-password")
DEMO_EMAIL = "demo@example.com"  # the customer of LOAD_EXPORT_ROWS browsing rows
