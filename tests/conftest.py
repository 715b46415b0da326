"""Fixtures: the database backends, the app with overrides, a real SMTP server, factories.

Every database test runs on SQLite and, when ``TEST_DATABASE_URL`` is set, on PostgreSQL too.
An unreachable PostgreSQL is an error, never a skip.

The backend rule: a test marked ``dialect_neutral`` (module-wide with ``pytestmark``) runs on
SQLite only. It is for tests of pages, forms, HTTP answers, validation, rendering and the
browser, whose SQL is the ORM's plain selects, inserts and updates, the same on every dialect.
Their database work is covered on both backends by the tests of that behaviour. SQLite is the
one kept because it is what ``make run`` and the acceptance checks use, and because it needs no
server, so a run without ``TEST_DATABASE_URL`` runs the same tests. What differs per dialect
stays on both: transactions, row locks and leases (``FOR UPDATE SKIP LOCKED``), the queue,
migrations, upserts, the data key store and key rotation, time zones in stored dates, contact
lookups and collection in the shop's database, retention, erasure, exports, the crash matrix and
the fuzzers (PostgreSQL refuses NUL bytes and out-of-range integers that SQLite stores). In a
``dialect_neutral`` module, ``every_backend`` puts one test back on both.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from email import message_from_bytes
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from privacy_service import migrate
from privacy_service.app import create_app
from privacy_service.db import make_engine
from privacy_service.demo import schemas_by_source
from privacy_service.tasks import consumer

# Fixtures of their own modules: start-up work done once per worker; Chromium.
pytest_plugins = ["startfix", "browserfix"]

PG_URL = os.environ.get("TEST_DATABASE_URL")
logging.getLogger("mail.log").setLevel(logging.WARNING)
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


TEST_SECRETS = {
    "secret_key": "test-secret-" + "x" * 40,
    "keys": f"1:{_key()}",
    "index_key": _key(),
    "audit_key": _key(),
}


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    """The backend rule (module docstring): a ``dialect_neutral`` test gets SQLite only.

    Given as a ``parametrize`` mark on ``database_template``, which takes precedence over the
    fixture's own ``params``; the test keeps its ``[sqlite]`` id and the session's template.
    """
    if "database_template" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("every_backend"):
        return
    if metafunc.definition.get_closest_marker("dialect_neutral"):
        metafunc.definition.add_marker(
            pytest.mark.parametrize("database_template", ["sqlite"], indirect=True)
        )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Longest first within each backend's group: ``slow`` and ``browser`` tests lead it.

    pytest groups the tests by backend (a worker switching backends makes its template again);
    the order inside a group is free. With ``--dist worksteal`` (pyproject.toml) each worker
    starts on its half's long tests, and an idle one takes short tests from the other's end:
    the run does not end on one worker finishing a crash matrix or a browser journey.
    """

    def backend_of(item):
        callspec = getattr(item, "callspec", None)
        return callspec.params.get("database_template") if callspec else None

    groups: dict = {}
    for item in items:
        groups.setdefault(backend_of(item), len(groups))

    def key(pair):
        position, item = pair
        group = groups[backend_of(item)]
        long = item.get_closest_marker("slow") or item.get_closest_marker("browser")
        return (group, 0 if long else 1, position)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


@pytest.fixture(scope="session", params=BACKENDS)
def database_template(request, tmp_path_factory):
    """A migrated database per backend, created once per test session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = create_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)
        engine.dispose()
        yield ("sqlite", path)
        return
    url = make_url(PG_URL)
    name = f"privacy_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # fails loudly when the server is unreachable
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # No wait for the WAL flush at each commit (~3 ms each on this disk): a test database
        # never outlives a server crash, and every commit is still atomic and visible at once.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    test_url = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(test_url)
    migrate.upgrade(engine)
    engine.dispose()
    yield ("postgresql", test_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(database_template, tmp_path):
    """A clean, migrated database for one test."""
    kind, where = database_template
    if kind == "sqlite":
        path = tmp_path / "privacy.db"
        shutil.copy(where, path)
        return f"sqlite:///{path}"
    engine = create_engine(where)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('alembic_version', 'audit_head')"
                )
            )
            .scalars()
            .all()
        )
        # The tables hold a test's few rows: DELETE is ~20x faster than TRUNCATE's file work.
        # Replica mode skips the triggers (foreign keys, append-only rows) for this cleanup only.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("; ".join(f'DELETE FROM "{t}"' for t in tables)))  # noqa: S608 (names from pg_tables)
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": "0" * 64})
    engine.dispose()
    return where


@pytest.fixture
def backend(database_template):
    """``sqlite`` or ``postgresql``."""
    return database_template[0]


# The queue's consumers poll an idle SQLite queue every 50 ms in service; a one-time code takes
# two hops (contact lookup, then its notice), and every test that verifies waits for them. Tests
# poll every 10 ms (~1.5% of a core per running app). ``service_poll`` keeps the service's
# interval for a test that measures it.
TEST_POLL_SECONDS = 0.01


@pytest.fixture(autouse=True)
def queue_poll(request, monkeypatch):
    """The consumers this test starts poll every ``TEST_POLL_SECONDS`` (unless ``service_poll``)."""
    if not request.node.get_closest_marker("service_poll"):
        monkeypatch.setattr(consumer, "POLL_SECONDS", TEST_POLL_SECONDS)


class SmtpSink:
    """One test's inbox on the worker's SMTP server: the messages its apps sent.

    Each test's apps send from their own address (``address``); the server files a message
    under its envelope sender, so a late message of an earlier test never lands here.
    """

    def __init__(self, port: int):
        self.port = port
        self.address = f"privacy-{uuid.uuid4().hex[:12]}@shop.example"
        self.messages = []
        self._cond = threading.Condition()

    def receive(self, content: bytes) -> None:
        """File one message (called on the server's thread)."""
        with self._cond:
            self.messages.append(message_from_bytes(content))
            self._cond.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 10):
        """Block until ``count`` messages arrived; returns the list."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        assert len(self.messages) >= count, f"expected {count} message(s), got {len(self.messages)}"
        return self.messages

    def bodies(self) -> list[str]:
        """Text of every message received."""
        return [m.get_payload(decode=True).decode() for m in self.messages]

    def codes(self, rid: str | None = None) -> list[str]:
        """The one-time codes received, in order; only those about request ``rid`` if given."""
        found = [re.search(r"\b(\d{6})\b", b) for b in self.bodies() if rid is None or rid in b]
        return [m.group(1) for m in found if m]

    def code_for(self, rid: str, timeout: float = 45) -> str:
        """The latest one-time code sent about request ``rid``, waited for.

        Picked by the request id, never by position: another request's notice may arrive
        in between. The timeout covers a contact lookup retrying a source that timed out on a
        loaded machine (first retry after 15 s); a passing test never waits for it.
        """
        with self._cond:
            self._cond.wait_for(lambda: bool(self.codes(rid)), timeout=timeout)
        found = self.codes(rid)
        assert found, f"no code sent for {rid}"
        return found[-1]


class SmtpServer:
    """The aiosmtpd handler of a worker's one SMTP server: files messages in their test's inbox."""

    def __init__(self):
        self.inboxes: dict[str, SmtpSink] = {}

    async def handle_DATA(self, server, session, envelope):
        inbox = self.inboxes.get(envelope.mail_from)
        if inbox is not None:  # else a message of a test that has ended: accepted, dropped
            inbox.receive(envelope.content)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback, started once per worker."""
    handler = SmtpServer()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def smtp(smtp_server):
    """This test's inbox: every message the test's apps send by SMTP."""
    inbox = SmtpSink(smtp_server.port)
    smtp_server.inboxes[inbox.address] = inbox
    yield inbox
    del smtp_server.inboxes[inbox.address]


@pytest.fixture(scope="session")
def demo_source_files(tmp_path_factory) -> dict[str, Path]:
    """The demo's source databases as SQLite files with their tables and no rows, once per worker.

    Copied into each test's folder before its app starts (a copy costs ~2 ms; creating the
    tables costs ~100 ms a test).
    """
    folder = tmp_path_factory.mktemp("demo-sources")
    files = {}
    for name, metadata in schemas_by_source().items():
        files[name] = folder / f"{name}.db"
        engine = make_engine(f"sqlite:///{files[name]}", immediate=False)
        metadata.create_all(engine)
        engine.dispose()
    return files


@pytest.fixture
def make_app(database_url, tmp_path, smtp, demo_source_files):
    """Factory: an app on the test database with overrides; default mail goes to ``smtp``."""
    apps = []

    def factory(**overrides):
        config = {
            "database_url": database_url,
            # The shop's tables share the PostgreSQL test database (no name clashes).
            "shop_database_url": database_url
            if database_url.startswith("postgresql")
            else f"sqlite:///{tmp_path / 'shop.db'}",
            "instance_dir": str(tmp_path / "instance"),
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "mail_from": smtp.address,  # the server files the test's messages by sender
            "otp_resend_cooldown_seconds": 0,
            # One delivery thread: messages reach the test SMTP server in the order they were
            # queued, so tests that count messages see them in that order.
            "delivery_threads": 1,
            # Notices and contact lookups run on the queue's customer lane, as in service:
            # consumer threads in the test's process (the outbox branch; exports stay manual).
            "notice_consumer": True,
            **TEST_SECRETS,
            **overrides,
        }
        if "policies_dir" not in overrides:  # the demo's data map: its sources' files
            _copy_demo_sources(config, overrides, demo_source_files)
        for earlier in apps:  # the newest app runs the customer lane, as after a restart
            earlier.extensions["privacy"].queue.stop()
        app = create_app(config)
        app.config["TESTING"] = True
        apps.append(app)
        _empty_demo_sources(app.extensions["privacy"])
        return app

    factory.apps = apps  # the outbox branch: ``customer`` registers through the latest app
    yield factory
    for app in apps:
        rt = app.extensions["privacy"]
        rt.dispose()


def _copy_demo_sources(config: dict, overrides: dict, files: dict[str, Path]) -> None:
    """The empty demo source files where the app's defaults put them, unless already there.

    A test's own URL for a source is left alone; a restarted app keeps the rows it has.
    """
    targets = {"support": ("source_support_url", Path(config["instance_dir"]) / "support.db")}
    shop = config["shop_database_url"]
    if shop.startswith("sqlite:///"):  # on PostgreSQL the shop's tables stay in the test database
        targets["shop"] = ("shop_database_url", Path(shop.removeprefix("sqlite:///")))
    for name, (setting, path) in targets.items():
        if setting not in overrides and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(files[name], path)


def _empty_demo_sources(rt) -> None:
    """The demo's source databases exist with their tables (empty until a test seeds them).

    Contacts are looked up in the sources at every submission; a missing table is a source
    failure (retried, never "not a customer"), as for a real shop. Tables that exist already
    (copied from ``demo_source_files``) are left as they are.
    """
    for name, metadata in schemas_by_source().items():
        if name in rt.sources and name in rt.policies.datamap.sources:
            try:
                metadata.create_all(rt.sources[name])
            except OperationalError:
                continue  # a test pointing the source at a server that is down, on purpose
            rt.sources[name].dispose()  # no idle connection left (tests copy the database)


@pytest.fixture
def app(make_app):
    """The app with default test settings."""
    return make_app()


@pytest.fixture
def rt(app):
    """The app's runtime (settings, db, vault, policies, notifier)."""
    return app.extensions["privacy"]


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner_for():
    """Factory: a runner of ``privacy`` commands against a given app."""
    from privacy_service.cli import main

    class Runner:
        def __init__(self, app):
            self.app = app

        def invoke(self, args, **kwargs):
            result = self.app.test_cli_runner().invoke(main, args, **kwargs)
            # Inside a test's app context the CLI does not tear one down: end its session as
            # the process exit would.
            self.app.extensions["privacy"].db.remove()
            return result

    return Runner


@pytest.fixture
def runner(app, runner_for):
    """Runs ``privacy`` commands against the app: ``runner.invoke(args=[...])``."""
    return runner_for(app)


@pytest.fixture
def session(app, rt):
    """A session on the test database inside an app context."""
    with app.app_context():
        yield rt.db.session


@pytest.fixture
def customer(make_app, request):
    """Factory: register a customer in the directory; returns its subject id.

    Through the test's latest app (all share the database): starting the default ``app`` as
    well would add its queue consumers, with other delivery settings, beside the test's own.
    """
    from privacy_service.subjects.directory import register

    def factory(email=None, phone=None, name="测试用户"):
        app = make_app.apps[-1] if make_app.apps else request.getfixturevalue("app")
        rt = app.extensions["privacy"]
        with app.app_context():
            subject = register(rt.db.session, email=email, phone=phone, name=name)
            rt.db.session.commit()
            return subject.id

    return factory


@pytest.fixture
def code_from(smtp, rt):
    """Factory: wait for the n-th message carrying a code and return the 6-digit code in it.

    Messages about other outcomes (verified, export ready, ...) carry no code and do not count.
    ``code_from(rid=...)`` returns the latest code sent for that request instead.
    """

    def factory(n: int = 1, *, rid: str | None = None) -> str:
        rt.notifier.wait()
        if rid:
            return smtp.code_for(rid)
        with smtp._cond:
            smtp._cond.wait_for(lambda: len(smtp.codes()) >= n, timeout=10)
        found = smtp.codes()
        assert len(found) >= n, f"expected {n} code message(s), got {len(found)}"
        return found[n - 1]

    def count() -> int:
        rt.notifier.wait()
        return len(smtp.codes())

    factory.count = count
    return factory


@pytest.fixture
def submit(client):
    """Factory: submit a request; returns the response."""

    def factory(headers=None, **body):
        body.setdefault("type", "access")
        return client.post("/api/v1/requests", json=body, headers=headers or {})

    return factory


@pytest.fixture
def verified(submit, client, code_from, customer, rt, smtp):
    """Factory: a verified request for a (new) customer; returns (request id, token)."""

    def factory(email="demo@example.com", type="access", **body):
        from privacy_service.subjects.directory import find_by_contact

        with client.application.app_context():
            known = find_by_contact(rt.db.session, "email", email) is not None
            rt.db.session.commit()
        if not known:
            customer(email=email)
        before = code_from.count()
        rid = submit(type=type, email=email, **body).json["id"]
        code = code_from(before + 1)
        answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
        assert answer.status_code == 200, answer.json
        return rid, answer.json["access_token"]

    return factory


def worker_env(app, tmp_path, **extra) -> dict:
    """Environment for a ``privacy`` subprocess on the same databases and keys as ``app``."""
    settings = app.extensions["privacy"].settings
    return {
        **os.environ,
        "PRIVACY_DATABASE_URL": settings.database_url,
        "PRIVACY_SHOP_DATABASE_URL": settings.shop_database_url,
        "PRIVACY_INSTANCE_DIR": str(tmp_path / "instance"),
        # The worker's mail reaches the test's inbox: the SMTP server files messages by sender.
        "PRIVACY_MAIL_FROM": settings.mail_from,
        **{f"PRIVACY_{k.upper()}": v for k, v in TEST_SECRETS.items()},
        **{f"PRIVACY_{k.upper()}": str(v) for k, v in extra.items()},
    }


def start_worker(env: dict) -> subprocess.Popen:
    """A ``privacy worker`` process (one bulk thread) with ``env`` (``worker_env``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "privacy_service.cli", "worker", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def bearer(token: str) -> dict:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def repo_root() -> Path:
    """The project's root folder."""
    return Path(__file__).resolve().parent.parent


def approver(app, email: str = "li.na@shop.example") -> str:
    """An active agent account for ``--by`` (the CLI names staff accounts only); its e-mail."""
    from sqlalchemy import select

    from privacy_service.team.accounts import StaffUser, create

    rt = app.extensions["privacy"]
    session = rt.db.new_session()
    try:
        if session.scalar(select(StaffUser).where(StaffUser.email == email)) is None:
            create(session, email=email, role="agent", password="correct horse battery")
            session.commit()
    finally:
        session.close()
    return email


def run_queue(rt) -> int:
    """Run every task waiting on the app's queue now, in this thread (a consumer's loop body)."""
    huey, ran = rt.queue.huey, 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        ran += 1
    return ran


def run_at_once(rt, spec, times: int = 2) -> list:
    """Run scheduled job ``spec`` from ``times`` threads at the same instant (as schedulers in
    several processes would); the results of ``jobs.run_job`` (None: the lease was held)."""
    import threading

    from privacy_service import jobs

    results, barrier = [], threading.Barrier(times)

    def scheduler():
        barrier.wait()
        results.append(jobs.run_job(rt, spec))

    threads = [threading.Thread(target=scheduler) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- The task queue's backends (the outbox branch moved this here from test_task_queue.py) ---
REDIS_URL = "redis://127.0.0.1:6379/2"


@pytest.fixture(params=["sqlite", "redis"])
def queue_settings(request):
    """Queue settings for one backend; Redis gets a queue name of its own (parallel runs)."""
    if request.param == "sqlite":
        yield {"queue_name": "privacy"}
        return
    redis.Redis.from_url(REDIS_URL).ping()  # an unreachable Redis fails the test, never skips
    name = f"privacy-test-{uuid.uuid4().hex[:12]}"
    yield {"queue_url": REDIS_URL, "queue_name": name}
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"huey.*{name}*"):
        client.delete(key)
