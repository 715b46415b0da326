"""The test suite's rules (the backend rule below, the running order) and its fixture plugins.

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

from pathlib import Path

import pytest

from privacy_service.tasks import consumer

# The helpers test modules import from here live in these plugins, imported below before pytest
# loads them as plugins: registered first, their asserts are rewritten as a conftest's are.
pytest.register_assert_rewrite("appfix", "journeyfix", "mailfix", "queuefix")

from journeyfix import approver, bearer  # noqa: E402
from mailfix import SmtpServer, SmtpSink  # noqa: E402
from queuefix import run_at_once, run_queue, worker_env  # noqa: E402

# The fixtures, by theme, in modules of their own: start-up work done once per worker; Chromium;
# the database backends; the SMTP server; the app; a customer's request; the task queue; an
# operator's own shop connected to the service; the dashboard's staff; the erasure tests' agent.
pytest_plugins = [
    "startfix",
    "browserfix",
    "dbfix",
    "mailfix",
    "appfix",
    "journeyfix",
    "queuefix",
    "connectfix",
    "staffpages",
    "erasurefix",
]

# Test modules import these helpers from here (``from conftest import bearer``).
__all__ = [
    "SmtpServer",
    "SmtpSink",
    "approver",
    "bearer",
    "run_at_once",
    "run_queue",
    "worker_env",
]


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


@pytest.fixture
def repo_root() -> Path:
    """The project's root folder."""
    return Path(__file__).resolve().parent.parent
