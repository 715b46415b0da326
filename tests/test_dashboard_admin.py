"""Oversight and administration on the dashboard: audit pages and their export, reports, staff
accounts, key rotation, reply templates; what agents may not do."""

import csv
import io
import re
import time

import pyotp
import pytest
from sqlalchemy import select
from staffpages import assert_readable, csrf_of, deletion_request, login

from privacy_service.audit import AuditCheck, AuditEntry
from privacy_service.crypto.keystore import DataKey, KeyVersion
from privacy_service.requests.models import DataRequest
from privacy_service.team.accounts import StaffUser

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


def test_audit_pages_filters_export_and_stored_verification(client, team, verified, session, rt):
    rid = deletion_request(verified)
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


def test_admins_edit_reply_templates_that_agents_then_use(client, team, verified, session):
    rid = deletion_request(verified)
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
