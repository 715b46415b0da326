"""The dashboard bugs found in review (issue 17), each pinned by a test through the pages."""

import datetime as dt
import re

import pytest
from sqlalchemy import select
from staffpages import assert_readable, csrf_of, deletion_request, login

from privacy_service import holds
from privacy_service.audit import AuditEntry
from privacy_service.calendar import receipt_day
from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


def test_refusal_keeps_custom_text_after_a_template(client, team, verified, session):
    rid = deletion_request(verified)
    login(client, "agent@shop.example")
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    answer = client.post(
        f"/staff/requests/{rid}/refuse",
        data={
            "csrf": csrf,
            "template": "legal",
            "zh": "订单需保存三年。",
            "en": "Orders: 3 years.",
        },
    )
    assert answer.status_code == 303
    session.expire_all()
    reason = session.get(DataRequest, rid).reasons[0]
    assert reason["code"] == "legal"
    assert reason["zh-CN"].startswith("法律要求") and reason["zh-CN"].endswith("订单需保存三年。")
    assert reason["en"].endswith("Orders: 3 years.")


def test_refusal_without_a_reason_is_a_page_with_the_error_and_changes_nothing(
    client, team, verified, session
):
    rid = deletion_request(verified)
    login(client, "agent@shop.example")
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    answer = client.post(
        f"/staff/requests/{rid}/refuse", data={"csrf": csrf, "template": "", "zh": "只写了中文"}
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and answer.mimetype == "text/html"
    assert 'id="reason-error"' in page and "只写了中文" in page, "typed text kept"
    assert "Invalid request" not in page and "队列 Queue" in page
    session.expire_all()
    assert session.get(DataRequest, rid).status == "awaiting_review"


def test_a_hold_until_a_past_date_is_refused_and_holds_show_edit_release_and_timeline(
    client, team, verified, session
):
    rid = deletion_request(verified)
    login(client, "admin@shop.example")
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    past = (receipt_day(utcnow()) - dt.timedelta(days=30)).isoformat()
    answer = client.post(
        f"/staff/requests/{rid}/hold", data={"csrf": csrf, "reason": "诉讼", "until": past}
    )
    assert answer.status_code == 422 and "不能早于今天" in answer.get_data(as_text=True)
    subject_id = session.get(DataRequest, rid).subject_id
    assert holds.all_for(session, subject_id) == []
    future = (receipt_day(utcnow()) + dt.timedelta(days=90)).isoformat()
    assert (
        client.post(
            f"/staff/requests/{rid}/hold",
            data={"csrf": csrf, "reason": "诉讼保全", "until": future},
        ).status_code
        == 303
    )
    (hold,) = holds.all_for(session, subject_id)
    later = (receipt_day(utcnow()) + dt.timedelta(days=120)).isoformat()
    changed = client.post(
        f"/staff/requests/{rid}/holds/{hold.id}",
        data={"csrf": csrf, "reason": "诉讼保全（延长）", "until": later, "category": "orders"},
    )
    assert changed.status_code == 303
    released = client.post(f"/staff/requests/{rid}/holds/{hold.id}/release", data={"csrf": csrf})
    assert released.status_code == 303
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    timeline = page[page.index('id="timeline"') :]
    for label in ("设置法律保全", "修改法律保全", "解除法律保全"):
        assert label in timeline, label
    assert "已解除 Released" in page, "a released hold is still listed"


@pytest.mark.every_backend  # due dates compared in SQL
def test_due_within_3_includes_a_request_with_exactly_3_working_days_left(
    client, team, verified, session, rt
):
    three, four = deletion_request(verified), deletion_request(verified)
    calendar, today = rt.policies.calendar, receipt_day(utcnow())
    due3 = calendar.add_working_days(today, 3).due_date
    due4 = calendar.add_working_days(today, 4).due_date
    for rid, due in ((three, due3), (four, due4)):
        session.get(DataRequest, rid).due_date = due
    session.commit()
    login(client, "agent@shop.example")
    page = client.get("/staff/requests?due_within=3").get_data(as_text=True)
    assert three[:13] in page and four[:13] not in page
    assert re.search(r'class="tag amber">3<', page), "the amber tag agrees"


def test_short_id_and_phone_search_find_the_customer_and_all_their_requests(
    client, team, verified, customer, session
):
    customer(email="wang@example.com", phone="13900001111")
    by_email = deletion_request(verified, email="wang@example.com")
    other = deletion_request(verified, email="someone@example.com")
    login(client, "agent@shop.example")
    csrf = csrf_of(client, "/staff/requests")
    found = client.post("/staff/requests", data={"csrf": csrf, "q": by_email[:13]})
    page = found.get_data(as_text=True)
    assert by_email[:13] in page and other[:13] not in page
    page = client.post("/staff/requests", data={"csrf": csrf, "q": "139 0000 1111"}).get_data(
        as_text=True
    )
    assert by_email[:13] in page, "a request made by e-mail is found by the customer's phone"
    assert other[:13] not in page and "13900001111" not in page


def test_pages_read_as_labels_names_and_dates_not_codes(client, team, verified, session):
    rid = deletion_request(verified)
    login(client, "agent@shop.example")
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    client.post(f"/staff/requests/{rid}/assign", data={"csrf": csrf, "to": "me"})
    for path in ("/staff/", "/staff/requests", f"/staff/requests/{rid}", "/staff/audit"):
        page = client.get(path).get_data(as_text=True)
        text = assert_readable(page)
        assert team["agent"].id not in text, f"staff UUID on {path}"
        assert "<th>" not in page, f"header cell without scope on {path}"
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "待审核 Awaiting review" in page and "删除 Deletion" in page
    assert "agent@shop.example" in page[page.index('id="timeline"') :]
    queue = client.get("/staff/requests").get_data(as_text=True)
    link = re.search(rf'<a href="/staff/requests/{rid}">(.*?)</a>', queue, re.S).group(1)
    assert "删除 Deletion" in link and "…" not in link


def test_unknown_request_is_an_html_page_within_the_navigation(client, team):
    login(client, "agent@shop.example")
    for path in ("/staff/requests/0190aaaa-0000-7000-8000-000000000000", "/staff/nothing-here"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.mimetype == "text/html", path
        assert "队列 Queue" in answer.get_data(as_text=True)


def test_approval_is_confirmed_first_and_leads_back_to_the_queue(client, team, verified, session):
    rid = deletion_request(verified)
    login(client, "agent@shop.example")
    client.get("/staff/requests?type=deletion&page=1")
    confirm = client.get(f"/staff/requests/{rid}/approve").get_data(as_text=True)
    assert 'id="confirm"' in confirm and "不可撤销" in confirm
    session.expire_all()
    assert session.get(DataRequest, rid).status == "awaiting_review", "a GET changes nothing"
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    answer = client.post(f"/staff/requests/{rid}/approve", data={"csrf": csrf})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "已批准 Approved" in page
    assert 'id="back-to-queue"' in page and "type=deletion" in page


def test_correction_reveal_shows_the_value_and_is_audited(client, team, verified, session, rt):
    from privacy_service.demo import seed

    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=5)
    rid, _ = verified(
        type="correction",
        corrections=[{"category": "account", "field": "name", "value": "张三"}],
    )
    login(client, "agent@shop.example")
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    cell = re.search(r'class="old-value">([^<]*)<', page).group(1)
    assert cell == "**", "masked before the reveal"
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    revealed = client.post(f"/staff/requests/{rid}/reveal", data={"csrf": csrf})
    cell = re.search(r'class="old-value">([^<]*)<', revealed.get_data(as_text=True)).group(1)
    assert cell == "张伟"
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "request.correction_revealed")
    ).one()
    assert entry.actor == f"staff:{team['agent'].id}" and entry.fields == ["account.name"]
    assert "张伟" not in str(entry.details)


@pytest.mark.every_backend  # days and weeks by the dialect's date functions
def test_overview_labels_iso_weeks_and_writes_values_as_text(client, team, verified):
    deletion_request(verified)
    login(client, "agent@shop.example")
    page = client.get("/staff/").get_data(as_text=True)
    year, week, _ = receipt_day(utcnow()).isocalendar()
    assert f"{year}-W{week:02d}" in page
    weeks = page[page.index('id="weeks"') :]
    assert re.search(rf"<th scope=\"row\">{year}-W{week:02d}</th><td>0</td><td>0</td><td>1<", weeks)
    assert 'class="legend"' in page and "<tspan" not in page


def test_failed_sign_in_keeps_the_email(client, team):
    page = login(client, "agent@shop.example", "wrong password!").get_data(as_text=True)
    assert 'value="agent@shop.example"' in page


@pytest.mark.every_backend  # collection in the shop's database
def test_data_found_counts_open_the_records(client, team, verified, session, rt):
    from privacy_service.demo import seed

    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=5)
    rid = deletion_request(verified)
    login(client, "agent@shop.example")
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    link = f"/staff/requests/{rid}/found/browsing"
    assert link in page
    records = client.get(link).get_data(as_text=True)
    assert "browsing_events (5)" in records
    assert session.scalars(
        select(AuditEntry).where(AuditEntry.action == "request.records_viewed")
    ).first()


def test_retention_dry_run_and_run_now(client, team, session, rt):
    from privacy_service.demo import seed

    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=5)
    login(client, "admin@shop.example")
    page = client.get("/staff/retention").get_data(as_text=True)
    assert 'id="dry-run"' in page and 'id="run-now"' in page
    assert re.search(r'id="next-time">\d{4}-\d\d-\d\d \d\d:\d\d<', page)
    csrf = csrf_of(client, "/staff/retention")
    dry = client.post("/staff/retention/dry-run", data={"csrf": csrf}).get_data(as_text=True)
    assert_readable(dry)
    assert "试运行后显示" not in dry
    assert 'id="confirm"' in client.get("/staff/retention/run").get_data(as_text=True)
    done = client.post("/staff/retention/run", data={"csrf": csrf})
    assert done.status_code == 303
    assert "已删除" in client.get("/staff/retention").get_data(as_text=True)
