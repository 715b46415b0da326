"""The customer page in a real browser at a phone's size (390x844): coming back, and each page
bug of issue 16 point 8. Screenshots go to test-artifacts/ (portal-j-*.png)."""

import datetime as dt
import re

import pytest
from browserfix import served
from playwright.sync_api import expect
from sqlalchemy import select, update

from exports.worker import run_pending
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.requests import staff
from privacy_service.requests.models import DataRequest, ExportArchive, Verification

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


@pytest.fixture
def app(make_app):
    """The app with the real resend cool-down, so the page shows it."""
    return make_app(otp_resend_cooldown_seconds=60)


@pytest.fixture
def live(app, rt, session):
    """The app on a loopback HTTP server, with the demo shop."""
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=5)
    with served(app) as url:
        yield url


def shot(page, name):
    page.screenshot(path=str(page.shots / f"portal-j-{name}.png"), full_page=True)


def submit(page, live, kind="access", contact="demo@example.com"):
    page.goto(live + "/")
    page.locator(f"input[name=type][value={kind}]").check()
    page.locator("#contact").fill(contact)
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/r/.+/verify"))
    return page.url.split("/r/")[1].split("/")[0]


def enter(page, code):
    page.locator("#code").fill(code)
    page.get_by_role("button", name="验证", exact=True).click()


def signed_in(page, live, code_from, kind="access"):
    before = code_from.count()
    rid = submit(page, live, kind)
    enter(page, code_from(before + 1))
    page.wait_for_url(re.compile(r"/r/[^/]+$"))
    return rid


def approved_correction(page, rt, session, code_from) -> None:
    """Submit the correction form as filled, enter the code, and an agent approves it."""
    before = code_from.count()
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/verify"))
    rid = page.url.split("/r/")[1].split("/")[0]
    enter(page, code_from(before + 1))
    page.wait_for_url(re.compile(r"/r/[^/]+$"))
    staff.approve(session, rt.collector(), session.get(DataRequest, rid), actor="staff:li.na")
    session.commit()


def test_come_back_the_next_day_and_download_again(live, page, rt, code_from):
    rid = signed_in(page, live, code_from)
    assert run_pending(rt.export_deps()) == 1
    page.reload()
    with page.expect_download():
        page.locator("#download").click()
    # The next day: the browser's sign-in is gone (a fresh browser session, no cookies).
    page.context.clear_cookies()
    page.goto(f"{live}/r/{rid}")
    assert page.locator("h2").inner_text() == "重新登录"
    shot(page, "1-sign-in-again")
    before = code_from.count()
    page.locator("#send-code").click()
    page.wait_for_url(re.compile(r"/verify$"))
    assert page.evaluate("document.activeElement.id") == "code", "the code field has the focus"
    enter(page, code_from(before + 1))
    page.wait_for_url(re.compile(r"/r/[^/]+$"))
    assert page.locator("#status").inner_text() == "已完成", "the request did not change"
    with page.expect_download():
        page.locator("#download").click()
    page.reload()
    assert "剩余下载次数 3" in page.content()
    page.locator("#mine").click()
    assert rid in page.locator("#my-requests").inner_html()
    assert "我的请求" in page.title()
    shot(page, "2-my-requests")


def test_language_switch_right_after_resend(live, page, rt, session):
    rid = submit(page, live)
    session.execute(
        update(Verification).values(last_sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    )
    session.commit()
    page.reload()
    page.locator("#resend").click()
    page.wait_for_url(re.compile(r"/verify$"))
    page.get_by_role("link", name="English").click()
    assert page.locator("h2").inner_text() == "Enter your code"
    assert rid in page.url


def test_reload_after_a_wrong_code_spends_no_attempt(live, page, session, code_from):
    rid = submit(page, live)
    # As the customer would: type (a wrong) code once the message came. Until the contact lookup
    # has sent it, the request's code is a placeholder that the sent one replaces, attempts too.
    code_from(rid=rid)
    enter(page, "000000")
    assert "验证码不正确" in page.get_by_role("alert").inner_text()
    page.reload()
    page.reload()
    session.expire_all()
    assert session.get(Verification, rid).attempts == 1


def test_a_void_code_says_so_when_the_page_is_opened_again(live, page, session):
    rid = submit(page, live)
    session.execute(update(Verification).values(attempts=5))
    session.commit()
    page.goto(f"{live}/r/{rid}/verify")
    assert "错误次数过多" in page.get_by_role("alert").inner_text()


def test_no_download_button_with_no_downloads_left_and_a_chinese_410(
    live, page, rt, session, code_from
):
    rid = signed_in(page, live, code_from)
    run_pending(rt.export_deps())
    session.execute(update(ExportArchive).values(downloads=ExportArchive.max_downloads))
    session.commit()
    page.reload()
    assert page.locator("#download").count() == 0
    assert "下载次数已用完" in page.locator("#no-downloads").inner_text()
    answer = page.goto(f"{live}/r/{rid}/download")
    assert answer.status == 410 and "下载次数已用完" in page.locator("#message").inner_text()
    shot(page, "3-downloads-used")


def test_unknown_url_is_a_page_and_the_favicon_exists(live, page):
    answer = page.goto(live + "/no/such/page")
    assert answer.status == 404 and "找不到此页面" in page.content()
    assert "找不到页面" in page.title()
    icon = page.goto(live + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"


def test_overdue_request_apologises(live, page, session, code_from):
    rid = signed_in(page, live, code_from, kind="deletion")
    session.execute(
        update(DataRequest)
        .where(DataRequest.id == rid)
        .values(due_date=dt.date.today() - dt.timedelta(days=10))
    )
    session.commit()
    page.reload()
    due = page.locator("#due").inner_text()
    assert "深表歉意" in due and "-" not in due.split("·")[-1]
    shot(page, "4-overdue")


def test_cancelling_asks_for_confirmation(live, page, session, code_from):
    rid = signed_in(page, live, code_from, kind="deletion")
    page.locator("#cancel").click()
    expect(page).to_have_title(re.compile("确认撤销"))  # waits for the page the link opens
    page.locator("#keep").click()
    page.wait_for_url(re.compile(rf"/r/{rid}$"))
    assert page.locator("#status").inner_text() != "已撤销"
    page.locator("#cancel").click()
    expect(page).to_have_title(re.compile("确认撤销"))
    shot(page, "5-cancel-confirm")
    page.locator("#confirm-cancel").click()
    page.wait_for_url(re.compile(rf"/r/{rid}$"))
    assert page.locator("#status").inner_text() == "已撤销"


def test_receipt_says_which_records_are_kept(live, page, session, code_from):
    rid = signed_in(page, live, code_from, kind="deletion")
    basis = {"zh-CN": "电子商务法", "en": "E-commerce Law"}
    receipt = {
        "completed_at": "2026-01-01T00:00:00+00:00",
        "account_closed": False,
        "keys_destroyed": False,
        "categories": {
            "orders": {
                "deleted": 0,
                "anonymised": 2,
                "kept": [
                    {"table": "orders", "rows": 3, "basis": basis, "until": "2029-05-07"},
                    {"table": "order_items", "rows": 5, "basis": basis, "until": "2029-05-07"},
                ],
            }
        },
    }
    session.execute(update(DataRequest).where(DataRequest.id == rid).values(receipt=receipt))
    session.commit()
    page.reload()
    text = page.locator("#receipt").inner_text()
    assert "订单: 3" in text and "订单商品: 5" in text


def test_correction_of_several_fields_then_what_changed(live, page, rt, session, code_from):
    page.goto(live + "/")
    page.locator("input[name=type][value=correction]").check()
    assert page.locator("#categories").is_hidden(), "only what a correction needs"
    page.locator("#contact").fill("demo@example.com")
    page.locator("#field-0").select_option("account:name")
    page.locator("#value-0").fill("王小明")
    page.locator("#field-1").select_option("account:wechat_nickname")
    page.locator("#value-1").fill("小明")
    approved_correction(page, rt, session, code_from)
    page.reload()
    changes = page.locator("#changes").inner_text()
    assert "姓名" in changes and "王*" in changes and "王小明" not in changes
    assert "微信昵称" in changes
    shot(page, "6-correction-done")


def test_field_errors_on_the_right_input_with_linked_summary(live, page):
    page.goto(live + "/")
    page.locator("input[name=type][value=correction]").check()
    page.locator("#contact").fill("demo@example.com")
    page.locator("#field-0").select_option("account:phone")
    page.locator("#value-0").fill("123")
    page.locator("#value-1").fill("只有内容没有项目")
    page.get_by_role("button", name="提交", exact=True).click()
    assert page.locator("#value-0").get_attribute("aria-invalid") == "true"
    assert "格式" in page.locator("#value-0-error").inner_text()
    assert "请选择要更正的项目" in page.locator("#field-1-error").inner_text()
    assert page.locator("#field-0").get_attribute("aria-invalid") is None
    links = page.locator("#error-summary a")
    assert links.count() == 2
    page.locator("#error-summary a[href='#value-0']").click()
    assert page.evaluate("document.activeElement.id") == "value-0"
    shot(page, "7-field-errors")


def test_the_form_shows_only_what_the_type_needs(live, page):
    page.goto(live + "/")
    page.locator("input[name=type][value=account_closure]").check()
    assert page.locator("#corrections").is_hidden() and page.locator("#categories").is_hidden()
    assert page.evaluate("document.documentElement.scrollHeight") < 1300
    page.locator("input[name=type][value=access]").check()
    assert page.locator("#categories").is_visible() and page.locator("#corrections").is_hidden()
    shot(page, "8-form-access")


def _luminance(rgb):
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _ratio(a, b):
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _rgb(css):
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


def test_contrast_of_focus_ring_and_disabled_button_and_titles(live, page):
    page.goto(live + "/")
    form_title = page.title()
    page.locator("#contact").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert _ratio(_rgb(ring), (255, 255, 255)) >= 3, ring
    submit(page, live)  # the cool-down disables the resend button
    assert page.locator("#resend").is_disabled()
    colors = page.evaluate(
        "(() => { const s = getComputedStyle(document.getElementById('resend'));"
        " return [s.color, s.backgroundColor]; })()"
    )
    assert _ratio(_rgb(colors[0]), _rgb(colors[1])) >= 4.5, colors
    assert page.title() != form_title, "every page has its own title"


def test_privacy_choices_switched_off_at_once(live, page, rt, code_from):
    signed_in(page, live, code_from)
    page.locator("#choices").click()
    expect(page).to_have_title(re.compile("隐私选择"))  # waits for the page the link opens
    page.locator("#all-off").click()
    assert "立即生效" in page.get_by_role("status").inner_text()
    for name in ("marketing_email", "marketing_sms", "personalised_ads"):
        assert not page.locator(f"#choice-{name}").is_checked()
    with rt.sources["shop"].connect() as conn:
        row = conn.execute(
            select(shop.preferences).where(shop.preferences.c.customer_id == 1)
        ).one()
    assert not (row.email_notifications or row.sms_notifications or row.personalised_ads)
    page.locator("#choice-marketing_sms").check()
    page.locator("#save-choices").click()
    assert page.locator("#choice-marketing_sms").is_checked()
    shot(page, "9-choices")


def test_closure_refused_in_transit_then_cooling_off_notice_then_cancelled(
    live, page, rt, smtp, code_from
):
    o = shop.orders
    with rt.sources["shop"].begin() as conn:
        conn.execute(
            update(o)
            .where(o.c.customer_id == 1, o.c.status.in_(["unpaid", "paid"]))
            .values(status="shipped", shipped_at=dt.datetime.now(dt.UTC))
        )
        conn.execute(update(shop.gift_cards).values(balance_cents=0))
    signed_in(page, live, code_from, kind="account_closure")
    assert page.locator("#status").inner_text() == "未能办理"
    assert "您有正在配送途中的订单" in page.locator("#reasons").inner_text()
    shot(page, "10-closure-in-transit")
    with rt.sources["shop"].begin() as conn:  # delivered
        conn.execute(
            update(o)
            .where(o.c.customer_id == 1, o.c.status == "shipped")
            .values(status="completed", completed_at=dt.datetime.now(dt.UTC))
        )
    rid = signed_in(page, live, code_from, kind="account_closure")
    assert page.locator("#status").inner_text() == "冷静期"
    ends = page.locator("#cooling-off-until").inner_text()
    rt.notifier.wait()
    bodies = [b for b in smtp.bodies() if rid in b and "冷静期" in b]
    assert bodies and ends in bodies[-1], "the cooling-off notice arrived with its end"
    page.locator("#cancel").click()
    page.locator("#confirm-cancel").click()
    page.wait_for_url(re.compile(rf"/r/{rid}$"))
    assert page.locator("#status").inner_text() == "已撤销"
    shot(page, "11-closure-cancelled")


def test_signed_in_customer_picks_the_address_to_correct_from_a_list(
    live, page, rt, session, code_from
):
    signed_in(page, live, code_from)
    page.goto(live + "/")
    page.locator("input[name=type][value=correction]").check()
    record = page.locator("#record-0")
    assert record.evaluate("e => e.tagName") == "SELECT", "a list, not a number to look up"
    options = record.locator("optgroup[label='收货地址'] option")
    assert options.count() >= 1
    chosen = options.first.get_attribute("value")
    page.locator("#contact").fill("demo@example.com")
    page.locator("#field-0").select_option("addresses:city")
    page.locator("#value-0").fill("杭州市")
    record.select_option(chosen)
    approved_correction(page, rt, session, code_from)
    with rt.sources["shop"].connect() as conn:
        city = conn.execute(
            select(shop.addresses.c.city).where(shop.addresses.c.id == int(chosen))
        ).scalar()
    assert city == "杭州市"
    shot(page, "12-record-picked")
