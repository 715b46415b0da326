"""The customer's page in a real browser (Debian's Chromium via Playwright) at a phone's size:
the access journey with the code from a real SMTP message, the closure journey that shows the
unshipped-order blocker, and the language switch. Screenshots go to test-artifacts/."""

import io
import json
import re
import zipfile

import pytest
from browserfix import served

from exports.worker import run_pending
from privacy_service.demo import seed

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


@pytest.fixture
def app(make_app):
    """The app with the real resend cool-down, so the page shows it."""
    return make_app(otp_resend_cooldown_seconds=60)


@pytest.fixture
def live(app, rt, session):
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=20)
    with served(app) as url:
        yield url


def shot(page, name):
    page.screenshot(path=str(page.shots / f"portal-{name}.png"), full_page=True)


def code_in(smtp, rt, n):
    rt.notifier.wait()
    return re.search(
        r"\b(\d{6})\b", smtp.wait_for(n)[n - 1].get_payload(decode=True).decode()
    ).group(1)


def test_access_journey_on_a_phone(live, page, smtp, rt, tmp_path):
    page.goto(live + "/")
    assert page.locator("h1").inner_text() == "请求我的数据"
    shot(page, "1-form")
    page.get_by_label("获取我的数据副本").check()
    page.get_by_label("账户的手机号或电子邮箱").fill("demo@example.com")
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/r/.+/verify"))
    shot(page, "2-verify")
    assert page.locator("#resend").is_disabled(), "the cool-down is visible"

    page.get_by_label("验证码").fill("000000")
    page.get_by_role("button", name="验证", exact=True).click()
    assert "验证码不正确" in page.get_by_role("alert").inner_text()
    page.get_by_label("验证码").fill(code_in(smtp, rt, 1))
    page.get_by_role("button", name="验证", exact=True).click()
    page.wait_for_url(re.compile(r"/r/[^/]+$"))
    shot(page, "3-status")
    assert "剩余工作日" in page.content()
    assert page.locator("#progress").get_attribute("data-state") == "queued"
    assert "排队中" in page.locator("#progress").inner_text()

    assert run_pending(rt.export_deps()) == 1  # the worker's turn; the page updates itself
    page.wait_for_selector("#progress[data-state=ready]", timeout=10_000)
    assert "已生成" in page.locator("#progress-text").inner_text()
    assert page.locator("#progress-ready").is_visible()

    page.reload()
    assert page.locator("#status").inner_text() == "已完成"
    shot(page, "4-ready")
    with page.expect_download() as info:
        page.locator("#download").click()
    target = tmp_path / "export.zip"
    info.value.save_as(target)
    archive = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["categories"]["browsing"]["records"] == 20
    page.reload()
    assert "剩余下载次数 4" in page.content()


def test_closure_journey_shows_the_unshipped_order_blocker(live, page, smtp, rt):
    page.goto(live + "/")
    page.get_by_label("注销我的账户").check()
    page.get_by_label("账户的手机号或电子邮箱").fill("demo@example.com")
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/verify"))
    page.get_by_label("验证码").fill(code_in(smtp, rt, 1))
    page.get_by_role("button", name="验证", exact=True).click()
    page.wait_for_url(re.compile(r"/r/[^/]+$"))
    reasons = page.locator("#reasons").inner_text()
    assert "您有尚未发货的订单" in reasons and "请等待订单发货" in reasons
    assert page.locator("#status").inner_text() == "未能办理"
    shot(page, "5-closure-blocked")


def test_language_switch_and_field_errors(live, page):
    page.goto(live + "/")
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Request my data"
    page.get_by_label("Your account's mobile number or email").fill("not a contact")
    page.get_by_role("button", name="Submit").click()
    error = page.locator("#contact-error").inner_text()
    assert "valid mainland mobile number or email" in error
    assert (
        page.get_by_label("Your account's mobile number or email").get_attribute("aria-invalid")
        == "true"
    )
    shot(page, "6-english-error")
    page.get_by_role("link", name="中文").click()
    assert page.locator("h1").inner_text() == "请求我的数据"


def test_forms_need_the_csrf_token(client):
    answer = client.post("/", data={"type": "access", "contact": "demo@example.com"})
    assert answer.status_code == 400 and "text/html" in answer.headers["Content-Type"]


def test_submissions_are_rate_limited_per_contact(make_app):
    client = make_app(ratelimit_codes_per_contact_ip="5 per hour").test_client()
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    codes = [
        client.post(
            "/", data={"csrf": csrf, "type": "access", "contact": "a@example.com"}
        ).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [303] * 5 and codes[5] == 429
    other = client.post("/", data={"csrf": csrf, "type": "access", "contact": "b@example.com"})
    assert other.status_code == 303
