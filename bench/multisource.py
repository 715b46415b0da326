"""One access request across three kinds of source: verified -> export ready, with time per source.

The demo shop on PostgreSQL (``privacy_service.demo.seed``: BENCH_MULTI_CUSTOMERS customers with
BENCH_MULTI_BROWSING browsing events each), its customer-service desk on MariaDB (seeded with
it), and a marketing-email provider played by an HTTP server on loopback in this process (the
demo customer's subscriber record and BENCH_MULTI_SENDS send logs, 500 a page), declared in a
copy of the demo's policies as ``kind: http``. The service's own database is a fresh PostgreSQL
database. The demo customer asks for their data through the API; the code is read from the
outbox; then the verification and the export worker are timed (verified -> export ready), and
each source's part is timed alone (``Collector.collect`` of that source only, as the worker
reads it). Prints figures; nothing depends on it.

    .venv/bin/python -m bench.multisource

Settings (environment): BENCH_DATABASE_URL (PostgreSQL server), BENCH_MARIADB_URL (MariaDB
server, default mysql+pymysql://root@127.0.0.1:3306/mysql), BENCH_MULTI_CUSTOMERS (200),
BENCH_MULTI_BROWSING (2000), BENCH_MULTI_SENDS (5000), BENCH_MULTI_REPEAT (3).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.harness import b64key as _b64key
from bench.harness import first_line as _first_line
from bench.harness import postgres_database
from exports.worker import run_pending as run_pending_exports
from privacy_service.app import create_app
from privacy_service.config import DEMO_POLICIES
from privacy_service.demo import seed
from privacy_service.migrate import upgrade
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.scope import for_request
from tests.shopfix import MAILER

PG_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_URL = os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
CUSTOMERS = int(os.environ.get("BENCH_MULTI_CUSTOMERS", "200"))
BROWSING = int(os.environ.get("BENCH_MULTI_BROWSING", "2000"))
SENDS = int(os.environ.get("BENCH_MULTI_SENDS", "5000"))
REPEAT = max(1, int(os.environ.get("BENCH_MULTI_REPEAT", "3")))
PAGE = 500
TOKEN = "bench-mailer-token"
EMAIL = "demo@example.com"


def provider(sends: int) -> ThreadingHTTPServer:
    """The marketing-email provider: one subscriber for the demo customer, paged send logs."""
    subscriber = {"id": "sub-1", "email": EMAIL, "subscribed_at": "2024-01-02T03:04:05Z"}
    logs = [
        {"id": f"m{i}", "campaign": f"campaign {i % 40}", "sent_at": "2025-01-01T00:00:00Z"}
        for i in range(sends)
    ]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def _send(self, code: int, doc) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"error": "unauthorised"})
            url = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(url.query)
            parts = url.path.strip("/").split("/")
            if parts == ["subscribers"]:
                found = [subscriber] if query.get("email", [""])[0] == EMAIL else []
                return self._send(200, {"data": found})
            if parts == ["subscribers", "sub-1"]:
                return self._send(200, subscriber)
            if parts == ["subscribers", "sub-1", "sends"]:
                page = int(query.get("page", ["0"])[0])
                items = logs[page * PAGE : (page + 1) * PAGE]
                more = (page + 1) * PAGE < len(logs)
                following = f"/subscribers/sub-1/sends?page={page + 1}" if more else None
                return self._send(200, {"page": {"items": items, "next": following}})
            return self._send(404, {"error": "none"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class MariaDB:
    """A fresh, uniquely named MariaDB database for the desk; dropped afterwards."""

    def __init__(self, base_url: str):
        base = make_url(base_url)
        self.name = f"bench_desk_{uuid.uuid4().hex[:8]}"
        self.admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            self.version = conn.execute(sa.text("SELECT version()")).scalar_one()
            conn.execute(sa.text(f"CREATE DATABASE {self.name} CHARACTER SET utf8mb4"))
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        """Drop the database."""
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {self.name}"))
        self.admin.dispose()


def _code(outbox: Path, since: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.exists():
            lines = outbox.read_text(encoding="utf-8").splitlines()[since:]
            for line in lines:
                found = re.search(r"\b(\d{6})\b", json.loads(line).get("text", ""))
                if found:
                    return found.group(1)
        time.sleep(0.05)
    raise RuntimeError("no code arrived in the outbox")


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def run(service_url: str, shop_url: str, desk_url: str, workdir: Path) -> None:
    """Seed the three sources, then time the request REPEAT times."""
    server = provider(SENDS)
    os.environ["PRIVACY_SOURCE_MAILER_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ["PRIVACY_SOURCE_MAILER_TOKEN"] = TOKEN
    policies = workdir / "policies"
    shutil.copytree(DEMO_POLICIES, policies)
    with (policies / "datamap.yaml").open("a", encoding="utf-8") as fh:
        fh.write(MAILER)
    app = create_app(
        {
            "database_url": service_url,
            "instance_dir": str(workdir / "instance"),
            "policies_dir": str(policies),
            "shop_database_url": shop_url,
            "source_support_url": desk_url,
            "secret_key": "x" * 40,
            "keys": "1:" + _b64key(),
            "index_key": _b64key(),
            "audit_key": _b64key(),
            "scheduler_enabled": False,
            "otp_resend_cooldown_seconds": 0,
            # The customer lane (contact lookups, codes) in this process: the web app itself
            # sends no mail since notices go through the outbox; the export is built below.
            "notice_consumer": True,
        }
    )
    rt = app.extensions["privacy"]
    for name in ("alembic", "privacy_service", "exports", "huey"):
        logging.getLogger(name).setLevel(logging.WARNING)
    upgrade(rt.db.engine)
    started = time.perf_counter()
    with app.app_context():
        seed(
            rt.db.session,
            rt.sources["shop"],
            customers=CUSTOMERS,
            browsing_per_customer=BROWSING,
            support_engine=rt.sources["support"],
        )
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
    client = app.test_client()
    outbox = Path(rt.settings.outbox_log)
    totals, per_source = [], {}
    rows: dict[str, int] = {}
    for attempt in range(REPEAT):
        before = _lines(outbox)
        answer = client.post("/api/v1/requests", json={"type": "access", "email": EMAIL})
        rid = answer.json["id"]
        code = _code(outbox, before)
        t0 = time.perf_counter()
        verified = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
        assert verified.status_code == 200, verified.json
        assert run_pending_exports(rt.export_deps()) == 1, "the export was built"
        totals.append(time.perf_counter() - t0)
        with app.app_context():
            session = rt.db.session
            request = session.get(DataRequest, rid)
            assert request.export_archive.status == "ready"
            subject = for_request(session, request)
            collector = rt.collector()
            names = list(rt.policies.datamap.sources)
            for name in names:
                t = time.perf_counter()
                n = sum(
                    len(batch.rows)
                    for batch in collector.collect(
                        session, subject, skip_sources=[s for s in names if s != name]
                    )
                )
                per_source.setdefault(name, []).append(time.perf_counter() - t)
                rows[name] = n
            accounts = sorted({a["source"] for a in request.accounts or []})
            session.rollback()
        if attempt == 0:
            print(f"accounts covered: {', '.join(accounts)}", flush=True)
    server.shutdown()
    rt.dispose()
    total = statistics.median(totals)
    print()
    print(
        f"verified -> export ready: median {total * 1000:8.1f} ms over {REPEAT} requests "
        f"(min {min(totals) * 1000:.1f}, max {max(totals) * 1000:.1f})"
    )
    print(f"{'source':10} {'kind':8} {'rows':>8} {'median ms':>10} {'share':>7}")
    kinds = {n: s.kind for n, s in rt.policies.datamap.sources.items()}
    for name, times in per_source.items():
        median = statistics.median(times)
        print(
            f"{name:10} {kinds[name]:8} {rows[name]:>8} {median * 1000:>10.1f} "
            f"{median / total:>6.0%}"
        )
    print(
        "(each source read alone, as the export worker reads it; the rest of the total is "
        "verification, archive assembly, encryption and storage)"
    )


def main() -> int:
    print("multi-source access request: shop (PostgreSQL), desk (MariaDB), mailer (HTTP)")
    print(
        f"{CUSTOMERS} customers x {BROWSING} browsing events; {SENDS} send logs at the provider "
        f"({PAGE} a page)"
    )
    try:
        desk = MariaDB(MARIADB_URL)
    except sa.exc.SQLAlchemyError as exc:
        print(f"MariaDB unreachable: {_first_line(exc)}")
        return 1
    try:
        with (
            postgres_database(PG_URL, "bench_multi_service") as (service_url, version),
            postgres_database(PG_URL, "bench_multi_shop") as (shop_url, _v),
            tempfile.TemporaryDirectory(prefix="privacy-multi-") as tmp,
        ):
            print(f"PostgreSQL {version}; {desk.version}", flush=True)
            run(service_url, shop_url, desk.url, Path(tmp))
    except sa.exc.SQLAlchemyError as exc:
        print(f"PostgreSQL unreachable or failing: {_first_line(exc)}")
        return 1
    finally:
        desk.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
