"""A privacy team's day in headless Chromium (1440x900), with a screenshot of every page.

Two agents sign in and self-assign; one refuses with a template plus custom text, the other asks
a customer for more information, adds a note and logs a request that came in by phone yesterday;
an admin approves a batch of deletions, invites a new agent and rotates the keys; the privacy
officer downloads the month's report. No page shows a raw status code, JSON or a staff UUID.
"""

import base64
import datetime as dt
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from staffpages import PASSWORD, assert_readable, make_team

from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest
from privacy_service.web.dashboard.common import SHANGHAI

# Pages in a browser: the rotation's row locks and the report's date SQL run on both backends in
# test_dashboard_admin.py and test_vault.py.
pytestmark = pytest.mark.dialect_neutral

VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture
def app(make_app, tmp_path):
    """Keys in a file, so that the admin can rotate them from the browser."""
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"1:{base64.b64encode(os.urandom(32)).decode()}\n")
    return make_app(keys="", keys_file=str(keys_file))


class Shots:
    """Screenshots under test-artifacts/, and the readability check on every page taken."""

    def __init__(self, root, staff_ids):
        self.dir = root / "test-artifacts"
        self.dir.mkdir(exist_ok=True)
        self.staff_ids = staff_ids

    def __call__(self, page, name):
        page.screenshot(path=str(self.dir / f"dashboard-{name}.png"), full_page=True)
        assert_readable(page.content())
        body = page.inner_text("body")
        for sid in self.staff_ids:
            assert sid not in body, f"staff UUID on {name}"
        assert not re.search(r"\b(4\d\d|5\d\d) (Not Found|Bad Request|Forbidden)\b", body)


def sign_in(page, live, email, password=PASSWORD):
    page.goto(live + "/staff/login")
    page.get_by_label("邮箱 Email").fill(email)
    page.get_by_label("密码 Password").fill(password)
    page.get_by_role("button", name="登录 Sign in").click()


@pytest.fixture
def day(app, rt, session, verified, customer):
    from privacy_service.demo import seed

    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=20)
    team = make_team(session)
    customer(email="wang@example.com", phone="13900001111")
    requests = {
        "refuse": verified(type="deletion", categories=["browsing"])[0],
        "ask": verified(email="wang@example.com", type="deletion", categories=["browsing"])[0],
        "batch1": verified(type="deletion", categories=["browsing"])[0],
        "batch2": verified(email="wang@example.com", type="deletion", categories=["browsing"])[0],
    }
    return team, requests


def test_a_privacy_teams_day(live, new_context, day, session, repo_root, smtp, rt):
    team, rids = day
    shot = Shots(repo_root, [u.id for u in team.values()])

    # Agent A: a failed sign-in keeps the e-mail; then the queue, self-assign, refuse.
    a = new_context(viewport=VIEWPORT, accept_downloads=True).new_page()
    sign_in(a, live, "agent@shop.example", "wrong password!")
    assert a.get_by_label("邮箱 Email").input_value() == "agent@shop.example"
    shot(a, "login-failed")
    a.get_by_label("密码 Password").fill(PASSWORD)
    a.get_by_role("button", name="登录 Sign in").click()
    a.wait_for_url(re.compile(r"/staff/$"))
    assert a.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
    shot(a, "overview")
    a.get_by_role("link", name="队列 Queue", exact=True).click()
    shot(a, "queue")
    a.get_by_role("link", name=re.compile(rids["refuse"][:13])).first.click()
    a.locator("#assign-me").click()
    assert "agent@shop.example" in a.locator("#assignee").inner_text()
    a.locator("#template").select_option("legal")
    a.locator("#zh").fill("订单记录需依法保存三年。")
    a.locator("#en").fill("Order records are kept for three years by law.")
    a.locator("#refuse").click()
    assert a.locator("#status").inner_text() == "已拒绝 Refused"
    shot(a, "refused")
    a.locator("#back-to-queue").click()
    a.get_by_role("link", name=re.compile("我的请求 My requests")).first.click()
    shot(a, "my-requests")

    # Agent B: self-assigns, asks the customer, adds a note, logs a phone request from yesterday.
    b = new_context(viewport=VIEWPORT).new_page()
    sign_in(b, live, "agent2@shop.example")
    b.goto(f"{live}/staff/requests/{rids['ask']}")
    b.locator("#assign-me").click()
    b.get_by_label("向客户询问更多信息 Ask the customer for more information").fill(
        "请确认要删除哪个账户的浏览记录。"
    )
    b.locator("#ask").click()
    assert b.locator("#waiting").is_visible()
    b.get_by_label("添加备注 Add a note").fill("已发邮件询问，等待答复")
    b.locator("#add-note").click()
    assert "已发邮件询问" in b.locator("#notes").inner_text()
    shot(b, "asked-customer")
    b.goto(f"{live}/staff/requests/new")
    yesterday = utcnow().astimezone(SHANGHAI) - dt.timedelta(days=1)
    b.get_by_label("收到渠道 Received by").select_option("phone")
    b.get_by_label("收到时间（上海时间）Received at (Shanghai time)").fill(
        yesterday.strftime("%Y-%m-%dT%H:%M")
    )
    b.get_by_label("类型 Type").select_option("access")
    b.get_by_label("客户账户的联系方式 The account's contact").fill("13900001111")
    b.get_by_label("客户的要求 What the customer asked for").fill("来电要求一份个人信息副本")
    b.get_by_label("回拨账户电话 call back on the account's phone").check()
    b.get_by_label("核实经过与证据 How identity was checked, with evidence").fill(
        "回拨账户手机，客户说出最近订单号"
    )
    shot(b, "log-request-form")
    b.locator("#log-request").click()
    assert "电话 Phone" in b.locator("#summary").inner_text()
    shot(b, "logged-request")
    logged = session.scalars(select(DataRequest).where(DataRequest.channel == "phone")).one()
    assert (
        logged.due_date
        == rt.policies.requests.jurisdiction("cn")
        .due(yesterday.astimezone(dt.UTC), rt.policies.calendar)
        .due_date
    )
    session.rollback()  # end the read: on SQLite an open transaction would lock the server out

    # The admin: a batch of deletions approved after a confirmation; an invitation; key rotation.
    adm = new_context(viewport=VIEWPORT).new_page()
    sign_in(adm, live, "admin@shop.example")
    adm.goto(f"{live}/staff/requests?status=awaiting_review&type=deletion")
    for key in ("batch1", "batch2"):
        adm.locator(f"input[name=ids][value='{rids[key]}']").check()
    adm.get_by_label("对所选请求 With the selected requests").select_option("approve")
    adm.locator("#bulk-go").click()
    assert "2 个请求将被更改" in adm.locator("#confirm-box").inner_text()
    shot(adm, "bulk-confirm")
    adm.locator("#confirm").click()
    assert "已处理 2 个" in adm.inner_text("body")
    shot(adm, "bulk-done")
    adm.goto(f"{live}/staff/admin/staff")
    adm.get_by_label("邮箱 E-mail").fill("new.agent@shop.example")
    adm.locator("#invite").click()
    assert adm.locator("#one-time-password").inner_text()
    adm.goto(f"{live}/staff/admin/staff")
    shot(adm, "admin-staff")
    adm.goto(f"{live}/staff/admin/keys")
    adm.locator("#rotate").click()
    shot(adm, "rotate-confirm")
    adm.locator("#confirm").click()
    from playwright.sync_api import expect

    # The page reloads itself every 2 s while the rotation runs (a meta refresh, no script).
    expect(adm.locator("#rotation")).to_contain_text("完成 Done", timeout=30_000)
    shot(adm, "admin-keys")
    for name in ("policies", "jobs"):
        adm.goto(f"{live}/staff/admin/{name}")
        shot(adm, f"admin-{name}")
    adm.goto(f"{live}/staff/audit")
    shot(adm, "audit")
    adm.goto(f"{live}/staff/retention")
    shot(adm, "retention")
    adm.goto(f"{live}/staff/requests/0190aaaa-0000-7000-8000-000000000000")
    assert "找不到" in adm.inner_text("body") and adm.get_by_role("link", name="队列 Queue").count()
    shot(adm, "not-found")

    # The privacy officer (auditor) downloads the month's report.
    officer_ctx = new_context(viewport=VIEWPORT, accept_downloads=True)
    officer = officer_ctx.new_page()
    sign_in(officer, live, "auditor@shop.example")
    first = utcnow().astimezone(SHANGHAI).date().replace(day=1)
    officer.goto(f"{live}/staff/reports?from={first}&to={utcnow().astimezone(SHANGHAI).date()}")
    shot(officer, "reports")
    with officer.expect_download() as download:
        officer.locator("#report-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "on_time_rate_percent" in text and "received_per_month" in text
    session.expire_all()
    statuses = {k: session.get(DataRequest, v).status for k, v in rids.items()}
    assert statuses == {
        "refuse": "rejected",
        "ask": "awaiting_review",
        "batch1": "in_progress",
        "batch2": "in_progress",
    }
