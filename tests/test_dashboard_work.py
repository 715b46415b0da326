"""The team's week on the dashboard: assignment, notes, questions, queue views, bulk actions,
audit pages and export, reports, administration; and the CLI's staff checks."""

import csv
import io
import logging
import re
import time

import pyotp
import pytest
from sqlalchemy import func, select
from staffpages import PASSWORD, assert_readable, csrf_of, login, make_team

from privacy_service.audit import AuditCheck, AuditEntry
from privacy_service.crypto.keystore import DataKey, KeyVersion
from privacy_service.requests.models import DataRequest
from privacy_service.team.accounts import StaffUser
from privacy_service.team.models import RequestNote

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


@pytest.fixture
def team(session):
    return make_team(session)


def _deletion(verified, email="demo@example.com"):
    rid, _ = verified(email=email, type="deletion", categories=["browsing"])
    return rid


def test_self_assign_my_requests_unassigned_and_reassign_are_audited(
    client, team, verified, session
):
    mine, other = _deletion(verified), _deletion(verified)
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
    rid = _deletion(verified)
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
    rids = [_deletion(verified) for _ in range(3)]
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
    first, second = _deletion(verified), _deletion(verified)
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


def test_audit_pages_filters_export_and_stored_verification(client, team, verified, session, rt):
    rid = _deletion(verified)
    login(client, "auditor@shop.example")
    page = client.get("/staff/audit").get_data(as_text=True)
    assert "尚未校验 Not verified yet" in page
    assert '<label for="a-actor">' in page and "placeholder" not in page
    from privacy_service.jobs import JOBS, run_job

    run_job(rt, next(s for s in JOBS if s.id == "audit.verify"))
    check = session.scalars(select(AuditCheck)).one()
    assert check.ok and check.entries > 0
    page = client.get("/staff/audit").get_data(as_text=True)
    assert "链完整 Chain intact" in page and "最近一次校验" in page
    filtered = client.get(f"/staff/audit?request={rid[:13]}&action=request.received")
    text = filtered.get_data(as_text=True)
    assert text.count("收到请求 Request received</td>") == 1
    assert_readable(text)
    total = session.query(AuditEntry).count()
    first = client.get("/staff/audit").get_data(as_text=True)
    assert "较早 Older" not in first or total > 50
    older = client.get(f"/staff/audit?before={total}").get_data(as_text=True)
    assert f"<td>{total}</td>" not in older and f"<td>{total - 1}</td>" in older
    assert "较新 Newer" in older
    exported = client.get(f"/staff/audit.csv?request={rid}")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["seq", "at", "actor", "action"]
    assert all(r[5] == rid for r in rows[1:]) and len(rows) > 2


@pytest.mark.every_backend  # days by the dialect's date functions
def test_reports_show_figures_charts_and_download_csv(client, team, verified):
    rid, token = verified()
    client.post(f"/api/v1/requests/{rid}/cancel", headers={"Authorization": f"Bearer {token}"})
    login(client, "auditor@shop.example")
    page = client.get("/staff/reports").get_data(as_text=True)
    assert re.search(r'id="on-time-rate">100.0%<', page)
    assert page.count('<svg role="img"') == 3
    assert_readable(page)
    bad = client.get("/staff/reports?from=2026-13-40")
    assert bad.status_code == 200 and "请填写有效日期" in bad.get_data(as_text=True)
    exported = client.get("/staff/reports.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    assert ["closed_on_time", "", "all", "1"] in rows


def test_admin_invites_changes_roles_disables_and_signs_out(client, team, session, make_app):
    login(client, "admin@shop.example")
    csrf = csrf_of(client, "/staff/admin/staff")
    page = client.post(
        "/staff/admin/staff", data={"csrf": csrf, "email": "new@shop.example", "role": "agent"}
    ).get_data(as_text=True)
    password = re.search(r'id="one-time-password">([^<]+)<', page).group(1)
    secret = re.search(r"secret=([A-Z2-7]+)", page).group(1)
    newbie = client.application.test_client()
    assert login(newbie, "new@shop.example", password, pyotp.TOTP(secret).now()).status_code == 302
    assert newbie.get("/staff/requests").status_code == 200
    member = session.scalars(select(StaffUser).where(StaffUser.email == "new@shop.example")).one()
    client.post(
        f"/staff/admin/staff/{member.id}", data={"csrf": csrf, "change": "role", "role": "auditor"}
    )
    client.post(f"/staff/admin/staff/{member.id}", data={"csrf": csrf, "change": "sign_out"})
    assert newbie.get("/staff/requests").status_code == 302, "signed out by the admin"
    client.post(f"/staff/admin/staff/{member.id}", data={"csrf": csrf, "change": "disable"})
    assert login(newbie, "new@shop.example", password, pyotp.TOTP(secret).now()).status_code == 401
    session.expire_all()
    assert session.get(StaffUser, member.id).role == "auditor"
    changes = [
        e.details["change"]
        for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "staff.changed"))
    ]
    assert changes == ["role", "signed_out", "disabled"]
    agent = login(client.application.test_client(), "agent@shop.example")
    assert agent.status_code == 302
    assert client.get("/staff/admin/policies").get_data(as_text=True).count("全部有效") == 1
    jobs = client.get("/staff/admin/jobs").get_data(as_text=True)
    assert "审计链校验 Verify the audit chain" in jobs and "retention.nightly" not in jobs


def test_agents_cannot_administer(client, team):
    login(client, "agent@shop.example")
    assert client.get("/staff/admin/staff").status_code == 403
    assert client.get("/staff/admin/keys").status_code == 403


@pytest.mark.every_backend  # key rotation's row locks
def test_admin_rotates_keys_with_progress_and_retires_the_old_version(team, make_app, tmp_path):
    import base64
    import os

    keys_file = tmp_path / "keys"
    keys_file.write_text(f"1:{base64.b64encode(os.urandom(32)).decode()}\n")
    app = make_app(keys="", keys_file=str(keys_file))
    staff_client = app.test_client()
    with app.app_context():
        from privacy_service.subjects.directory import register

        s = app.extensions["privacy"].db.session
        for i in range(5):
            register(s, email=f"k{i}@example.com", name="客户")
        s.commit()
    login(staff_client, "admin@shop.example")
    csrf = csrf_of(staff_client, "/staff/admin/keys")
    assert 'id="confirm"' in staff_client.get("/staff/admin/keys/rotate").get_data(as_text=True)
    staff_client.post("/staff/admin/keys/rotate", data={"csrf": csrf})
    deadline = time.monotonic() + 30
    while "完成 Done" not in (page := staff_client.get("/staff/admin/keys").get_data(as_text=True)):
        assert time.monotonic() < deadline, page[-2000:]
        time.sleep(0.2)
    with app.app_context():
        s = app.extensions["privacy"].db.session
        assert {v.version: v.status for v in s.scalars(select(KeyVersion))} == {
            1: "decrypt_only",
            2: "active",
        }
        assert not s.scalars(select(DataKey).where(DataKey.kek_version == 1)).first()
        assert len(s.scalars(select(DataKey).where(DataKey.kek_version == 2)).all()) >= 5
    staff_client.post("/staff/admin/keys/1/retire", data={"csrf": csrf})
    page = staff_client.get("/staff/admin/keys").get_data(as_text=True)
    assert "已停用 Retired" in page


def test_cli_by_must_name_a_staff_account_and_config_says_where_keys_come_from(
    runner, verified, session, team
):
    rid = _deletion(verified)
    wrong = runner.invoke(args=["requests", "approve", rid, "--by", "li.na"])
    assert wrong.exit_code != 0 and "staff account" in wrong.output
    auditor = runner.invoke(args=["requests", "approve", rid, "--by", "auditor@shop.example"])
    assert auditor.exit_code != 0
    ok = runner.invoke(args=["requests", "approve", rid, "--by", "Agent@shop.example"])
    assert ok.exit_code == 0, ok.output
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "request.status_changed")
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry.actor == f"staff:{team['agent'].id}"
    listed = runner.invoke(args=["staff", "list"])
    assert "agent2@shop.example" in listed.output
    assert runner.invoke(args=["staff", "disable", "--email", "agent2@shop.example"]).exit_code == 0
    assert "disabled" in runner.invoke(args=["staff", "list"]).output


def test_cli_config_names_the_development_key_ring(make_app, runner_for, tmp_path):
    app = make_app(keys="", index_key="", audit_key="")
    out = runner_for(app).invoke(args=["config"]).output
    assert '"keys": "set (development key ring' in out
    assert '"index_key": "set (development key ring' in out


@pytest.mark.every_backend  # the demo's bulk load differs per dialect
def test_demo_seed_grows_and_resets(runner, rt, session):
    from privacy_service.demo import seeded_customers

    assert (
        "3 customers (3 added)"
        in runner.invoke(
            args=["demo", "seed", "--customers", "3", "--browsing-per-customer", "2"]
        ).output
    )
    grown = runner.invoke(args=["demo", "seed", "--customers", "5", "--browsing-per-customer", "2"])
    assert "5 customers (2 added)" in grown.output, grown.output
    assert seeded_customers(rt.sources["shop"]) == 5
    again = runner.invoke(args=["demo", "seed", "--customers", "4"])
    assert "already has 4 customers or more" in again.output
    reset = runner.invoke(
        args=["demo", "seed", "--customers", "2", "--browsing-per-customer", "1", "--reset"]
    )
    assert "2 customers (2 added)" in reset.output
    assert seeded_customers(rt.sources["shop"]) == 2
    assert PASSWORD


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

    answer = client.post(
        "/staff/requests/new",
        data={
            "csrf": csrf,
            "channel": "letter",
            "received": utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
            "type": "access",
            "contact_kind": "email",
            "contact": "zhao@example.com",
            "asked": "来信要求查阅个人信息",
            "method": "code",
        },
    )
    assert answer.status_code == 303
    rt.notifier.wait()
    smtp.wait_for(before + 1)
    r = session.scalars(select(DataRequest).where(DataRequest.channel == "letter")).one()
    assert r.status == "pending_verification" and r.id in smtp.bodies()[-1]
    unknown = client.post(
        "/staff/requests/new",
        data={
            "csrf": csrf,
            "channel": "letter",
            "received": utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
            "type": "access",
            "contact_kind": "email",
            "contact": "nobody@example.com",
            "asked": "x",
            "method": "code",
        },
    )
    assert unknown.status_code == 422 and "没有使用此联系方式的客户" in unknown.get_data(
        as_text=True
    )


def test_extension_where_the_jurisdiction_allows_it_tells_the_customer(
    client, team, verified, session, smtp, rt
):
    cn = _deletion(verified)
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


def test_admins_edit_reply_templates_that_agents_then_use(client, team, verified, session):
    rid = _deletion(verified)
    login(client, "admin@shop.example")
    csrf = csrf_of(client, "/staff/admin/templates")
    bad = client.post("/staff/admin/templates", data={"csrf": csrf, "key": "Bad Key", "zh": "x"})
    assert bad.status_code == 422
    client.post(
        "/staff/admin/templates",
        data={"csrf": csrf, "key": "duplicate", "zh": "您已提交过相同的请求。", "en": "Duplicate."},
    )
    client.post(
        "/staff/admin/templates",
        data={"csrf": csrf, "key": "legal", "zh": "依法需保存。", "en": "Kept by law."},
    )
    agent = client.application.test_client()
    login(agent, "agent@shop.example")
    page = agent.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert 'value="duplicate"' in page and "依法需保存。" in page
    csrf = csrf_of(agent, f"/staff/requests/{rid}")
    agent.post(f"/staff/requests/{rid}/refuse", data={"csrf": csrf, "template": "legal"})
    session.expire_all()
    assert session.get(DataRequest, rid).reasons[0]["en"] == "Kept by law."
    assert agent.post("/staff/admin/templates", data={"csrf": csrf}).status_code == 403


def test_cli_staff_commands_run_the_admin_pages_operations(client, runner, team, session):
    login(client, "agent2@shop.example")
    assert client.get("/staff/requests").status_code == 200
    out = runner.invoke(args=["staff", "sign-out", "--email", "agent2@shop.example"])
    assert out.exit_code == 0, out.output
    assert client.get("/staff/requests").status_code == 302, "the open session has ended"
    reset = runner.invoke(args=["staff", "reset-2fa", "--email", "agent2@shop.example"])
    assert "otpauth://" in reset.output
    runner.invoke(args=["staff", "lock", "--email", "agent2@shop.example"])
    runner.invoke(args=["staff", "disable", "--email", "agent2@shop.example"])
    assert runner.invoke(args=["staff", "enable", "--email", "agent2@shop.example"]).exit_code == 0
    session.expire_all()
    member = session.get(StaffUser, team["agent2"].id)
    assert member.sessions_revoked_at is not None and member.totp_enc is not None
    assert member.disabled_at is None and member.locked_until is None, "enabled like the page"
    changes = [
        e.details["change"]
        for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff.changed").order_by(AuditEntry.seq)
        )
    ]
    assert changes == ["signed_out", "second_factor_reset", "disabled", "enabled"]
    assert all(
        e.actor == "cli"
        for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "staff.changed"))
    )
    missing = runner.invoke(args=["staff", "enable", "--email", "nobody@shop.example"])
    assert missing.exit_code != 0 and "no staff account" in missing.output


def test_cli_holds_and_export_retry_refuse_clearly_and_change_nothing(
    runner, team, session, customer
):
    from privacy_service import holds

    customer(email="demo@example.com")

    unknown = runner.invoke(
        args=[
            "holds",
            "set",
            "--email",
            "demo@example.com",
            "--category",
            "no_such_category",
            "--reason",
            "x",
            "--until",
            "2099-01-01",
            "--by",
            "admin@shop.example",
        ]
    )
    assert unknown.exit_code != 0
    assert "unknown category" in unknown.output, unknown.output
    assert session.scalars(select(holds.LegalHold)).first() is None
    retry = runner.invoke(args=["exports", "retry", "01000000-0000-7000-8000-000000000000"])
    assert retry.exit_code != 0 and "no failed export" in retry.output
    assert (
        session.scalars(select(AuditEntry).where(AuditEntry.action == "export.retried")).first()
        is None
    )


def test_a_refused_decision_is_a_message_page_and_an_unexpected_error_a_logged_500(
    client, team, verified, session, caplog, monkeypatch
):
    from privacy_service.requests import staff

    rid = _deletion(verified)
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
    other = _deletion(verified)
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
