"""Chromium for the browser tests (a pytest plugin): one browser per worker, a context per test.

Debian's Chromium (/usr/bin/chromium) through Playwright, and ``live``, the app on a loopback
HTTP server. Tests with a live server or the browser are marked ``browser`` (``make test-fast``
leaves them out).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

BROWSER_FIXTURES = {"live", "chromium"}


def pytest_collection_modifyitems(config, items):
    """Tests with a live server or Chromium are browser tests (``-m "not browser"``)."""
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


# The customer page's browser tests: Debian's Chromium at a phone's size.
PHONE = {"width": 390, "height": 844}
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, launched once per worker; each test opens its own context in it.

    A context is a fresh profile (cookies, storage, cache): tests never see each other's state.
    """
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(chromium):
    """Factory: a fresh browser context (its own profile) in the worker's Chromium.

    Every context a test opens is closed after it.
    """
    contexts = []

    def factory(**options):
        contexts.append(chromium.new_context(**options))
        return contexts[-1]

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context, repo_root):
    """Chromium at a phone's size; fails if the page loads anything from outside."""
    page = new_context(viewport=PHONE, accept_downloads=True, locale="zh-CN").new_page()
    external = []
    page.on("request", lambda r: external.append(r.url) if "127.0.0.1" not in r.url else None)
    page.shots = repo_root / "test-artifacts"
    page.shots.mkdir(exist_ok=True)
    yield page
    assert external == [], "the page loads nothing from outside"


@contextmanager
def served(app):
    """``app`` on a loopback HTTP server, in a thread of this process: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def live(app):
    """The test's app on a loopback HTTP server: its base URL (modules that seed the demo shop
    first have a ``live`` of their own)."""
    with served(app) as url:
        yield url
