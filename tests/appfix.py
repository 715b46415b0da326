"""The app under test (a pytest plugin): ``make_app`` with test settings, its client and runner.

Every app runs on the test's database (``dbfix``), sends its mail to the test's inbox
(``mailfix``) and finds the demo's source databases, empty, where its defaults put them.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from privacy_service.app import create_app
from privacy_service.db import make_engine
from privacy_service.demo import schemas_by_source


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


TEST_SECRETS = {
    "secret_key": "test-secret-" + "x" * 40,
    "keys": f"1:{_key()}",
    "index_key": _key(),
    "audit_key": _key(),
}


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
