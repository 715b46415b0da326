"""Per-source steps: a source that fails does not lose or block the others' work; it is retried,
or an admin marks it not applicable with a reason (audited); the receipt says what each did."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import approver, bearer
from connectfix import rt_of, submit_and_verify
from shopfix import DATAMAP, fill, member_addresses
from sqlalchemy import create_engine, func, select, text, update
from staffpages import csrf_of, sign_in_admin

from privacy_service.audit import AuditEntry
from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest, ExportArchive
from retention.processor import run_pending as run_erasures

DESK = """
  desk:
    title: {zh-CN: 客服系统, en: Service desk}
    url_env: PRIVACY_SOURCE_DESK_URL
    identity: {table: desk_contacts, column: id, contacts: {email: email}}
    tables:
      desk_contacts:
        fields:
          email: {category: support_contacts, type: email}
      desk_notes:
        link: {column: contact_id, references: desk_contacts.id}
        fields:
          note: {category: support_contacts, type: text}
"""


@pytest.fixture
def two_sources(make_app, tmp_path, monkeypatch):
    crm, desk = tmp_path / "crm.db", tmp_path / "desk.db"
    engine = create_engine(f"sqlite:///{crm}")
    fill(engine)
    engine.dispose()
    desk_engine = create_engine(f"sqlite:///{desk}")
    with desk_engine.begin() as conn:
        conn.execute(text("CREATE TABLE desk_contacts (id INTEGER PRIMARY KEY, email TEXT)"))
        conn.execute(
            text(
                "CREATE TABLE desk_notes (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL "
                "REFERENCES desk_contacts(id), note TEXT)"
            )
        )
        conn.execute(
            text("INSERT INTO desk_contacts VALUES (7, 'LI.NA@example.com'), (8, 'x@y.cn')")
        )
        conn.execute(text("INSERT INTO desk_notes VALUES (1, 7, 'call back'), (2, 8, 'other')"))
        # The desk refuses deletions for now (a permission, a lock, an outage mid-way).
        conn.execute(
            text(
                "CREATE TRIGGER desk_read_only BEFORE DELETE ON desk_notes "
                "BEGIN SELECT RAISE(ABORT, 'read only'); END"
            )
        )
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{crm}")
    monkeypatch.setenv("PRIVACY_SOURCE_DESK_URL", f"sqlite:///{desk}")
    folder = tmp_path / "operator"
    folder.mkdir()
    (folder / "datamap.yaml").write_text(DATAMAP + DESK, encoding="utf-8")
    app = make_app(policies_dir=str(folder))
    return app, engine, desk_engine


def _deletion(app, smtp, runner_for):
    client = app.test_client()
    rid, token = submit_and_verify(
        app,
        client,
        smtp,
        type="deletion",
        email="li.na@example.com",
        categories=["addresses", "support_contacts"],
    )
    assert (
        runner_for(app).invoke(args=["requests", "approve", rid, "--by", approver(app)]).exit_code
        == 0
    )
    return client, rid, token


def _steps(client, rid, token):
    body = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    return body, {(s["source"], s["action"]): s for s in body["sources"]}


def _notes(desk_engine):
    with desk_engine.connect() as conn:
        return conn.execute(text("SELECT contact_id FROM desk_notes ORDER BY id")).scalars().all()


def test_a_failed_source_keeps_the_others_work_and_is_retried(two_sources, smtp, runner_for):
    app, crm, desk = two_sources
    client, rid, token = _deletion(app, smtp, runner_for)
    assert run_erasures(rt_of(app).erasure_deps()) == 0, "not complete while the desk fails"
    with crm.connect() as conn:
        left = conn.execute(select(member_addresses.c.member_no)).scalars().all()
    assert left == ["M-003"], "the shop's part was done despite the desk"
    body, steps = _steps(client, rid, token)
    assert body["status"] == "in_progress"
    assert steps[("crm", "deletion")]["status"] == "done"
    assert steps[("desk", "deletion")]["status"] == "failed"
    assert steps[("desk", "deletion")]["error"] == "IntegrityError"
    assert _notes(desk) == [7, 8]
    assert run_erasures(rt_of(app).erasure_deps()) == 0, "retried after a pause, not at once"

    with desk.begin() as conn:
        conn.execute(text("DROP TRIGGER desk_read_only"))
    with app.app_context():
        session = rt_of(app).db.session
        session.execute(update(DataRequest).where(DataRequest.id == rid).values(claim_until=None))
        session.commit()
    assert run_erasures(rt_of(app).erasure_deps()) == 1
    assert _notes(desk) == [8], "only the customer's desk notes went"
    body, steps = _steps(client, rid, token)
    assert body["status"] == "completed"
    assert steps[("desk", "deletion")]["status"] == "done"
    assert steps[("desk", "deletion")]["attempts"] == 2
    receipt = {(s["source"], s["action"]): s["status"] for s in body["receipt"]["sources"]}
    assert receipt[("crm", "deletion")] == receipt[("desk", "deletion")] == "done"


def test_an_admin_marks_a_failing_source_not_applicable(two_sources, smtp, runner_for):

    app, _crm, desk = two_sources
    client, rid, token = _deletion(app, smtp, runner_for)
    assert run_erasures(rt_of(app).erasure_deps()) == 0
    staff = app.test_client()
    sign_in_admin(app, staff)
    page = staff.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "IntegrityError" in page and "not-applicable" in page
    refused = staff.post(
        f"/staff/requests/{rid}/sources/desk/not-applicable",
        data={"csrf": csrf_of(staff, f"/staff/requests/{rid}"), "action": "deletion", "reason": ""},
    )
    assert refused.status_code == 422, "a reason is required"
    marked = staff.post(
        f"/staff/requests/{rid}/sources/desk/not-applicable",
        data={
            "csrf": csrf_of(staff, f"/staff/requests/{rid}"),
            "action": "deletion",
            "reason": "客服系统已停用 The desk was retired; its data is archived offline",
        },
    )
    assert marked.status_code == 303
    assert run_erasures(rt_of(app).erasure_deps()) == 1
    assert _notes(desk) == [7, 8], "nothing more was tried on the desk"
    body, steps = _steps(client, rid, token)
    assert body["status"] == "completed"
    assert steps[("desk", "deletion")]["status"] == "not_applicable"
    assert "retired" in steps[("desk", "deletion")]["reason"]
    with app.app_context():
        audited = rt_of(app).db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "source.not_applicable", AuditEntry.request_id == rid)
        )
    assert audited == 1


def test_an_export_records_the_failing_source_and_succeeds_on_retry(two_sources, smtp):
    from exports.worker import run_pending as build_exports

    app, _crm, desk = two_sources
    client = app.test_client()
    rid, token = submit_and_verify(app, client, smtp, email="li.na@example.com")
    with desk.begin() as conn:
        conn.execute(text("ALTER TABLE desk_notes RENAME TO desk_notes_moved"))
    assert build_exports(rt_of(app).export_deps()) == 0
    body, steps = _steps(client, rid, token)
    assert body["export"]["status"] != "failed" and not body["reasons"], "waits, not given up"
    assert steps[("desk", "access")]["status"] == "failed"
    # The desk's tables were reflected at the lookup: the missing table fails the query.
    assert steps[("desk", "access")]["error"] == "OperationalError"
    assert build_exports(rt_of(app).export_deps()) == 0, "not again before the delay"
    with desk.begin() as conn:
        conn.execute(text("ALTER TABLE desk_notes_moved RENAME TO desk_notes"))
    with app.app_context():
        session = rt_of(app).db.session
        session.execute(
            update(ExportArchive)
            .where(ExportArchive.request_id == rid)
            .values(lease_until=utcnow() - dt.timedelta(seconds=1))
        )
        session.commit()
    assert build_exports(rt_of(app).export_deps()) == 1
    body, steps = _steps(client, rid, token)
    assert body["status"] == "completed"
    assert steps[("desk", "access")]["status"] == "done"
    assert steps[("desk", "access")]["attempts"] == 2 and steps[("desk", "access")]["rows"] >= 2
    assert steps[("crm", "access")]["status"] == "done"
