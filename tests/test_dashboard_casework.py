"""The team's casework on the dashboard: assignment, notes and questions to the customer, queue
views, bulk actions, requests logged from a call or a letter, extensions, and how a refused or
failed decision shows."""

import csv
import io
import logging
import re

import pytest
from sqlalchemy import func, select
from staffpages import assert_readable, csrf_of, deletion_request, login

from privacy_service.audit import AuditEntry
from privacy_service.requests.models import DataRequest
from privacy_service.team.models import RequestNote

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


def test_self_assign_my_requests_unassigned_and_reassign_are_audited(
    client, team, verified, session
):
    mine, other = deletion_request(verified), deletion_request(verified)
    login(client, "agent@shop.example")
    csrf = csrf_of(client, "/staff/requests")
    client.post(f"/staff/requests/{mine}/assign", data={"csrf": csrf, "to": "me"})
    page = client.get("/staff/requests?assignee=me").get_data(as_text=True)
    assert mine[:13] in page and other[:13] not in page
    unassigned = client.get("/staff/requests?assignee=none").get_data(as_text=True)
    assert other[:13] in unassigned and mine[:13] not in unassigned
    assert re.search(r'id="view-mine">[^<]*\(1\)<', page), "counts on the saved views"
    client.post(f"/staff/requests/{mine}/assign", data={"csrf": csrf, "to": team["agent2"].id})
    bad = client.post(
        f"/staff/requests/{mine}/assign", data={"csrf": csrf, "to": team["auditor"].id}
    )
    assert bad.status_code == 422
    session.expire_all()
    assert session.get(DataRequest, mine).assignee_id == team["agent2"].id
    moves = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "request.assigned").order_by(AuditEntry.seq)
    ).all()
    assert [m.details for m in moves] == [
        {"from": None, "to": team["agent"].id},
        {"from": team["agent"].id, "to": team["agent2"].id},
    ]
    detail = client.get(f"/staff/requests/{mine}").get_data(as_text=True)
    assert "agent2@shop.example" in detail[detail.index('id="assignee"') :][:200]


def test_notes_are_sealed_and_asking_the_customer_sends_a_message_and_marks_waiting(
    client, team, verified, session, smtp, rt
):
    rid = deletion_request(verified)
    login(client, "agent@shop.example")
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    client.post(f"/staff/requests/{rid}/notes", data={"csrf": csrf, "body": "客户来电确认删除"})
    note = session.scalars(select(RequestNote)).one()
    assert "客户来电确认删除".encode() not in note.body_enc
    before = len(smtp.messages)
    answer = client.post(
        f"/staff/requests/{rid}/ask",
        data={"csrf": csrf, "question": "请问要删除哪一年的浏览记录？"},
    )
    assert answer.status_code == 303
    rt.notifier.wait()
    smtp.wait_for(before + 1)
    assert "请问要删除哪一年的浏览记录？" in smtp.bodies()[-1]
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert 'id="waiting"' in page and "期限不会暂停" in page
    assert "客户来电确认删除" in page
    waiting = client.get("/staff/requests?waiting=1").get_data(as_text=True)
    assert rid[:13] in waiting
    session.expire_all()
    assert session.get(DataRequest, rid).status == "awaiting_review", "public status unchanged"
    client.post(f"/staff/requests/{rid}/answered", data={"csrf": csrf, "body": "2023 年"})
    session.expire_all()
    assert session.get(DataRequest, rid).waiting_since is None
    wrong_method = client.get(f"/staff/requests/{rid}/notes")
    assert wrong_method.status_code == 404 and wrong_method.mimetype == "text/html"
    wrong_method = client.put(f"/staff/requests/{rid}")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    assert client.get("/api/v1/requests").mimetype == "application/problem+json"


def test_queue_sorts_pages_and_saves_views(client, team, verified, session):
    rids = [deletion_request(verified) for _ in range(3)]
    login(client, "agent@shop.example")
    page = client.get("/staff/requests?sort=received&dir=desc&size=25").get_data(as_text=True)
    order = [m for m in re.findall(r"/staff/requests/([0-9a-f-]{36})\"", page) if m in rids]
    assert order[:3] == list(reversed(rids))
    assert 'aria-sort="descending"' in page
    assert client.get("/staff/requests?sort=nonsense&size=7&page=x").status_code == 200
    csrf = csrf_of(client, "/staff/requests")
    client.post(
        "/staff/views",
        data={"csrf": csrf, "name": "删除待审", "type": "deletion", "status": "awaiting_review"},
    )
    page = client.get("/staff/requests").get_data(as_text=True)
    assert "删除待审" in page and "type=deletion" in page


def test_bulk_approve_lists_the_changes_then_approves(client, team, verified, session):
    first, second = deletion_request(verified), deletion_request(verified)
    login(client, "admin@shop.example")
    csrf = csrf_of(client, "/staff/requests")
    confirm = client.post(
        "/staff/requests/bulk", data={"csrf": csrf, "action": "approve", "ids": [first, second]}
    ).get_data(as_text=True)
    assert "2 个请求将被更改" in confirm and first[:13] in confirm and second[:13] in confirm
    session.expire_all()
    assert session.get(DataRequest, first).status == "awaiting_review"
    client.post(
        "/staff/requests/bulk/confirm",
        data={"csrf": csrf, "action": "approve", "ids": [first, second]},
    )
    session.expire_all()
    assert {session.get(DataRequest, r).status for r in (first, second)} == {"in_progress"}
    exported = client.post(
        "/staff/requests/bulk", data={"csrf": csrf, "action": "export", "ids": [first]}
    )
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "id" and rows[1][0] == first


def test_a_phone_request_logged_today_counts_from_yesterday_and_is_verified_by_the_agent(
    client, team, customer, session, rt
):
    import datetime as dt

    from privacy_service.calendar import receipt_day
    from privacy_service.db import utcnow
    from privacy_service.web.dashboard.common import SHANGHAI

    customer(email="li@example.com", phone="13700002222")
    login(client, "agent@shop.example")
    csrf = csrf_of(client, "/staff/requests/new")
    yesterday = utcnow().astimezone(SHANGHAI) - dt.timedelta(days=1)
    form = {
        "csrf": csrf,
        "channel": "phone",
        "received": yesterday.strftime("%Y-%m-%dT%H:%M"),
        "type": "deletion",
        "contact_kind": "phone",
        "contact": "137 0000 2222",
        "categories": ["browsing"],
        "asked": "客户来电要求删除浏览记录",
        "original": "通话记录：2026 年 12 月 1 日来电……",
        "method": "callback",
        "evidence": "",
    }
    missing = client.post("/staff/requests/new", data=form)
    assert missing.status_code == 422 and "核实的经过" in missing.get_data(as_text=True)
    assert 'value="137 0000 2222"' in missing.get_data(as_text=True), "the form keeps its values"
    future = {**form, "received": (yesterday + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")}
    assert client.post("/staff/requests/new", data=future).status_code == 422
    form["evidence"] = "回拨账户手机 137****2222，客户确认了最近一笔订单号"
    answer = client.post("/staff/requests/new", data=form)
    assert answer.status_code == 303, answer.get_data(as_text=True)[-800:]
    r = session.scalars(select(DataRequest).where(DataRequest.channel == "phone")).one()
    assert r.status == "awaiting_review" and r.assignee_id == team["agent"].id
    expected = rt.policies.requests.jurisdiction("cn").due(
        yesterday.astimezone(dt.UTC), rt.policies.calendar
    )
    assert r.due_date == expected.due_date
    assert receipt_day(r.received_at) == yesterday.date()
    kinds = {n.kind for n in session.scalars(select(RequestNote))}
    assert kinds == {"original", "evidence"}
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "电话 Phone" in page and "员工核实身份" in page
    assert_readable(page)


def test_a_logged_request_verified_by_code_sends_the_code_to_the_account(
    client, team, customer, session, smtp, rt
):
    customer(email="zhao@example.com")
    login(client, "agent@shop.example")
    csrf = csrf_of(client, "/staff/requests/new")
    before = len(smtp.messages)
    from privacy_service.db import utcnow
    from privacy_service.web.dashboard.common import SHANGHAI

    def log_letter(contact, asked):
        """Log a letter received now asking for access, verified by a code sent to ``contact``."""
        return client.post(
            "/staff/requests/new",
            data={
                "csrf": csrf,
                "channel": "letter",
                "received": utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
                "type": "access",
                "contact_kind": "email",
                "contact": contact,
                "asked": asked,
                "method": "code",
            },
        )

    answer = log_letter("zhao@example.com", "来信要求查阅个人信息")
    assert answer.status_code == 303
    rt.notifier.wait()
    smtp.wait_for(before + 1)
    r = session.scalars(select(DataRequest).where(DataRequest.channel == "letter")).one()
    assert r.status == "pending_verification" and r.id in smtp.bodies()[-1]
    unknown = log_letter("nobody@example.com", "x")
    assert unknown.status_code == 422 and "没有使用此联系方式的客户" in unknown.get_data(
        as_text=True
    )


def test_extension_where_the_jurisdiction_allows_it_tells_the_customer(
    client, team, verified, session, smtp, rt
):
    cn = deletion_request(verified)
    rid, _ = verified(type="deletion", categories=["browsing"], jurisdiction="gdpr")
    login(client, "agent@shop.example")
    assert 'id="extension"' not in client.get(f"/staff/requests/{cn}").get_data(as_text=True)
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert 'id="extension"' in page
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    before = session.get(DataRequest, rid).due_date
    sent = len(smtp.messages)
    client.post(
        f"/staff/requests/{rid}/extend",
        data={"csrf": csrf, "reason_zh": "请求涉及多个系统", "reason_en": "it spans many systems"},
    )
    session.expire_all()
    after = session.get(DataRequest, rid).due_date
    assert after > before
    rt.notifier.wait()
    smtp.wait_for(sent + 1)
    assert after.isoformat() in smtp.bodies()[-1]
    again = client.post(
        f"/staff/requests/{rid}/extend", data={"csrf": csrf, "reason_zh": "x", "reason_en": "y"}
    )
    assert again.status_code == 409, "one extension only"


def test_a_refused_decision_is_a_message_page_and_an_unexpected_error_a_logged_500(
    client, team, verified, session, caplog, monkeypatch
):
    from privacy_service.requests import staff

    rid = deletion_request(verified)
    login(client, "admin@shop.example")
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    assert client.post(f"/staff/requests/{rid}/approve", data={"csrf": csrf}).status_code == 303
    # The core refuses a second decision (a Problem): its words on a page, with its status.
    again = client.post(f"/staff/requests/{rid}/approve", data={"csrf": csrf})
    assert again.status_code == 409 and again.mimetype == "text/html"
    assert "Only a request awaiting review can be approved" in again.get_data(as_text=True)
    session.expire_all()
    assert session.get(DataRequest, rid).status == "in_progress"
    before = session.scalar(select(func.count()).select_from(AuditEntry))

    def boom(*_args, **_kwargs):
        raise ValueError("planted-secret-13800138000")

    # Anything else is no message: the error handler's 500, logged with its frames.
    monkeypatch.setattr(staff, "refuse", boom)
    other = deletion_request(verified)
    with caplog.at_level(logging.ERROR):
        failed = client.post(
            f"/staff/requests/{other}/refuse", data={"csrf": csrf, "template": "legal"}
        )
    assert failed.status_code == 500
    record = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    assert any(frame.endswith(":boom") for frame in record.frames)
    assert "planted-secret" not in caplog.text
    session.expire_all()
    assert session.get(DataRequest, other).status == "awaiting_review"
    assert session.scalar(select(func.count()).select_from(AuditEntry)) > before  # the intake's
