"""Helpers for the dashboard tests: staff accounts, signing in, CSRF tokens, page checks.

Also a pytest plugin: the ``team`` fixture (``make_team``'s staff), which test_dashboard replaces
with a smaller team of its own.
"""

from __future__ import annotations

import re

import pytest

PASSWORD = "correct horse battery"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RAW_STATUS = re.compile(
    r">\s*(pending_verification|awaiting_review|in_progress|cooling_off|account_closure)\s*<"
)


def make_team(session):
    """An agent, a second agent, an admin and an auditor."""
    from privacy_service.team.accounts import create

    users = {
        name: create(session, email=f"{name}@shop.example", role=role, password=PASSWORD)
        for name, role in (
            ("agent", "agent"),
            ("agent2", "agent"),
            ("admin", "admin"),
            ("auditor", "auditor"),
        )
    }
    session.commit()
    return users


@pytest.fixture
def team(session):
    """An agent, a second agent, an admin and an auditor (``make_team``)."""
    return make_team(session)


def deletion_request(verified, email="demo@example.com") -> str:
    """A verified request to delete the customer's browsing history; its id."""
    rid, _ = verified(email=email, type="deletion", categories=["browsing"])
    return rid


def csrf_of(client, path="/staff/login") -> str:
    """The CSRF token of a page's form."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def login(client, email, password=PASSWORD, code=None):
    """Sign in through the form."""
    data = {"csrf": csrf_of(client), "email": email, "password": password}
    if code:
        data["code"] = code
    return client.post("/staff/login", data=data)


def sign_in_admin(app, client, password=PASSWORD) -> None:
    """admin@shop.example, an admin added to ``app``'s staff, signed in on ``client``."""
    from privacy_service.team.accounts import create

    rt = app.extensions["privacy"]
    with app.app_context():
        create(rt.db.session, email="admin@shop.example", role="admin", password=password)
        rt.db.session.commit()
    assert login(client, "admin@shop.example", password).status_code == 302


def visible_text(html: str) -> str:
    """The page without tags, scripts' attributes or hidden inputs (what a reader sees)."""
    html = re.sub(r"<input[^>]*type=\"hidden\"[^>]*>", "", html)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def assert_readable(html: str) -> None:
    """No staff UUID, raw status code or JSON object in what the page shows."""
    text = visible_text(html)
    assert not RAW_STATUS.search(html), RAW_STATUS.search(html)
    assert '{"' not in text and "&#34;" not in text, "JSON on the page"
    assert "Traceback" not in text
    return text
