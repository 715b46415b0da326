"""The pages' Content-Security-Policy forbids inline scripts, and the pages need none.

Issue 13, item 9: ``script-src 'unsafe-inline'`` let any injected script run.
"""

import re

import pytest
from staffpages import login
from test_portal import app, live  # noqa: F401 - fixtures of the browser tests

from privacy_service.team.accounts import create

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


INLINE_STYLE = re.compile(r"<style[\s>]|<[^>]+\sstyle\s*=", re.IGNORECASE)


def _directive(policy: str, name: str) -> str:
    for part in policy.split(";"):
        if part.strip().startswith(name + " "):
            return part
    raise AssertionError(f"no {name} in the policy")


def _check(answer):
    policy = answer.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in _directive(policy, "script-src")
    assert "'unsafe-inline'" not in _directive(policy, "style-src")
    assert "'unsafe-eval'" not in policy
    body = answer.get_data(as_text=True)
    assert not INLINE_SCRIPT.search(body), "an inline <script>"
    assert not INLINE_HANDLER.search(body), "an inline event handler"
    assert not INLINE_STYLE.search(body), "an inline style"


@pytest.fixture
def pages(app, session):  # noqa: F811 - the browser tests' app, with the real cool-down
    create(session, email="agent@shop.example", role="agent", password="correct horse battery")
    session.commit()
    return app


def test_every_page_without_inline_script(pages):
    client = pages.test_client()
    _check(client.get("/"))
    rid = client.post(
        "/api/v1/requests", json={"type": "access", "email": "someone@example.com"}
    ).json["id"]
    verify = client.get(f"/r/{rid}/verify")
    assert "resend-timer.js" in verify.get_data(as_text=True), "the countdown is on this page"
    _check(verify)
    _check(client.get("/r/not-a-request"))
    _check(client.get("/staff/login"))
    assert login(client, "agent@shop.example").status_code == 302
    for path in ("/staff/", "/staff/requests", "/staff/audit", "/staff/retention"):
        _check(client.get(path))
    _check(client.get(f"/staff/requests/{rid}"))
    _check(client.get("/api/docs"))


def _csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return errors


def test_the_api_docs_render_under_the_policy(live, page):  # noqa: F811
    errors = _csp_errors(page)
    page.goto(live + "/api/docs")
    page.get_by_text("/api/v1/requests/{request_id}/verify").first.wait_for()
    assert not errors, errors


def test_the_customer_page_is_styled_under_the_policy(live, page):  # noqa: F811
    errors = _csp_errors(page)
    page.goto(live + "/")
    # The stylesheet applied: the header has the accent colour, not the browser's default.
    colour = page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert colour == "rgb(11, 79, 108)" and not errors, (colour, errors)


def test_the_countdown_runs_under_the_policy(live, page):  # noqa: F811
    errors = _csp_errors(page)
    page.goto(live + "/")
    page.get_by_label("获取我的数据副本").check()
    page.get_by_label("账户的手机号或电子邮箱").fill("demo@example.com")
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/r/.+/verify"))
    first = page.locator("#wait").inner_text()
    page.wait_for_function(
        "first => document.getElementById('wait').textContent !== first", arg=first
    )
    assert not errors, errors
