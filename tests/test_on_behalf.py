"""Requests on someone else's behalf (issue 16.6): a guardian, a relative of a deceased customer,
an authorised agent. The code goes to the requester; the team checks evidence before anything is
disclosed or changed; the account's own contact is told (not a deceased customer's).

Messages are read from a real SMTP server, chosen by recipient, request id and kind.
"""

import datetime as dt
import io
import zipfile
from email.header import decode_header, make_header

import pytest
from conftest import bearer
from sqlalchemy import select, update

from exports.worker import run_pending as build_exports
from privacy_service import operations
from privacy_service.audit import AuditEntry
from privacy_service.demo import seed
from privacy_service.requests import behalf, staff
from privacy_service.requests.models import DataRequest, ExportArchive

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
HOLDER = "demo@example.com"
PARENT = "parent@example.net"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=5, now=NOW)
    return rt.sources["shop"]


def messages_to(smtp, rt, address, rid, count=1, timeout=10):
    """(subject, body) of the messages to ``address`` about ``rid``, once ``count`` arrived."""
    rt.notifier.wait()

    def found():
        out = []
        for m in smtp.messages:
            body = m.get_payload(decode=True).decode()
            if address in m["To"] and rid in body:
                out.append((" ".join(str(make_header(decode_header(m["Subject"]))).split()), body))
        return out

    with smtp._cond:
        smtp._cond.wait_for(lambda: len(found()) >= count, timeout=timeout)
    return found()


def code_in(body: str) -> str:
    import re

    return re.search(r"\b(\d{6})\b", body).group(1)


def for_someone(client, relationship="guardian", type="access", holder=HOLDER, **extra):
    body = {
        "type": type,
        "email": holder,
        "language": "en",
        "on_behalf": {"relationship": relationship, "name": "Wang Fang", "email": PARENT},
        **extra,
    }
    return client.post("/api/v1/requests", json=body)


def verify_requester(client, smtp, rt, rid):
    (_subject, body), *_ = messages_to(smtp, rt, PARENT, rid)
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_in(body)})
    assert answer.status_code == 200, answer.json
    return answer.json


def test_guardian_access_waits_for_evidence_and_review_then_the_requester_downloads(
    shop_db, app, client, smtp, rt
):
    answer = for_someone(client)
    assert answer.status_code == 202, answer.json
    assert set(answer.json) == {
        "id",
        "type",
        "status",
        "received_at",
        "due_date",
        "due_date_provisional",
    }
    rid = answer.json["id"]
    verified = verify_requester(client, smtp, rt, rid)
    token = verified["access_token"]
    assert verified["status"] == "awaiting_review"

    # The holder hears of it in their own language (the demo customer's is Chinese, the
    # requester wrote in English); the requester's contact is not in it.
    (subject, body), *_ = messages_to(smtp, rt, HOLDER, rid)
    assert "有人代您提出了请求" in subject and "未成年人的父母或监护人" in body
    assert "获取我的数据副本" in body and PARENT not in body

    view = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert view["on_behalf"]["relationship"] == "guardian"
    assert view["on_behalf"]["evidence_status"] == "awaiting"
    assert view["accounts"] == [] and view["export"] is None
    assert {r["id"] for r in view["recipients"]} >= {"carriers", "marketing_email"}
    assert any(r["cross_border"] for r in view["recipients"])
    assert view["recipients_rights"]["en"]
    # The requester's token reaches this request only: not the holder's list or choices.
    listed = client.get("/api/v1/requests", headers=bearer(token)).json["requests"]
    assert [r["id"] for r in listed] == [rid]
    assert client.get("/api/v1/privacy-choices", headers=bearer(token)).status_code == 404
    # Nothing leaves before review.
    early = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert early.status_code == 409
    with app.app_context():
        assert rt.db.session.get(ExportArchive, rid) is None

    bad = client.post(
        f"/api/v1/requests/{rid}/evidence",
        data={"kind": "guardianship", "file": (io.BytesIO(b"MZ not a pdf"), "x.exe")},
        headers=bearer(token),
    )
    assert bad.status_code == 422 and "file" in bad.json["errors"]
    wrong_kind = client.post(
        f"/api/v1/requests/{rid}/evidence",
        data={"kind": "death_certificate", "file": (io.BytesIO(PDF), "c.pdf")},
        headers=bearer(token),
    )
    assert wrong_kind.status_code == 422 and "kind" in wrong_kind.json["errors"]
    up = client.post(
        f"/api/v1/requests/{rid}/evidence",
        data={"kind": "birth_certificate", "file": (io.BytesIO(PDF), "birth.pdf")},
        headers=bearer(token),
    )
    assert up.status_code == 201, up.json
    with app.app_context():
        s = rt.db.session
        r = s.get(DataRequest, rid)
        (doc,) = behalf.evidence_of(s, rid)
        assert doc.content() == PDF and PDF not in bytes(doc.body_enc)  # sealed at rest
        with pytest.raises(Exception) as refused:
            staff.approve(s, rt.collector(), r, actor="staff:x", rt=rt)
        assert "evidence" in str(refused.value.detail)
        s.rollback()
        r = s.get(DataRequest, rid)
        behalf.record_check(
            s, r, outcome="accepted", method="documents_reviewed", note="birth cert", actor="a"
        )
        staff.approve(s, rt.collector(), r, actor="staff:x", rt=rt)
        s.commit()
    assert build_exports(rt.export_deps()) == 1
    got = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert got.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(got.data)).namelist()
    assert "recipients/recipients.json" in names
    ready = messages_to(smtp, rt, PARENT, rid, count=3)
    assert any("ready" in s.lower() for s, _ in ready)
    with app.app_context():
        actions = rt.db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.request_id == rid)
        ).all()
    for action in (
        "request.holder_told",
        "request.evidence_added",
        "request.evidence_checked",
        "export.downloaded",
    ):
        assert action in actions


def test_relative_of_a_deceased_customer_may_delete_not_close_and_the_holder_is_not_told(
    shop_db, client, smtp, rt
):
    closing = for_someone(client, relationship="deceased_relative", type="account_closure")
    assert closing.status_code == 422
    assert "relationship" in closing.json["errors"]["on_behalf"]
    rid = for_someone(client, relationship="deceased_relative", type="deletion").json["id"]
    verified = verify_requester(client, smtp, rt, rid)
    assert verified["status"] == "awaiting_review"
    rt.notifier.wait()
    assert messages_to(smtp, rt, HOLDER, rid, timeout=0.5) == []


def test_an_unknown_account_still_sends_the_requester_a_code_and_cannot_be_approved(
    shop_db, app, client, smtp, rt
):
    rid = for_someone(client, relationship="agent", holder="nobody@example.org").json["id"]
    verified = verify_requester(client, smtp, rt, rid)  # same as for a real account
    assert verified["status"] == "awaiting_review"
    with app.app_context():
        s = rt.db.session
        r = s.get(DataRequest, rid)
        assert r.subject_id is None
        behalf.record_check(s, r, outcome="accepted", method="other", note="n", actor="a")
        with pytest.raises(Exception) as refused:
            staff.approve(s, rt.collector(), r, actor="staff:x", rt=rt)
        assert refused.value.slug == "on-behalf-unmatched"
        s.rollback()
        staff.refuse(s, s.get(DataRequest, rid), actor="staff:x", zh="无法核实", en="Not confirmed")
        s.commit()
        with pytest.raises(Exception) as decided:
            behalf.record_check(
                s, s.get(DataRequest, rid), outcome="rejected", method="other", note="n", actor="a"
            )
        assert decided.value.slug == "evidence-closed"
    refused = messages_to(smtp, rt, PARENT, rid, count=3)
    assert any("Not confirmed" in body for _, body in refused)


@pytest.mark.parametrize(
    ("on_behalf", "field"),
    [
        ({"relationship": "guardian"}, "email"),
        ({"relationship": "cousin", "email": PARENT}, "relationship"),
        ({"relationship": "self", "email": PARENT}, "email"),
        ({"relationship": "agent", "email": PARENT, "phone": "13900139000"}, "email"),
        ({"relationship": "agent", "email": PARENT, "extra": 1}, "extra"),
    ],
)
def test_bad_on_behalf_is_a_422_that_stores_nothing(app, client, rt, on_behalf, field):
    answer = client.post(
        "/api/v1/requests", json={"type": "access", "email": HOLDER, "on_behalf": on_behalf}
    )
    assert answer.status_code == 422
    assert field in answer.json["errors"]["on_behalf"]
    with app.app_context():
        assert rt.db.session.scalars(select(DataRequest)).all() == []


def test_self_relationship_is_the_ordinary_request(shop_db, app, client, rt, code_from):
    rid = client.post(
        "/api/v1/requests",
        json={"type": "access", "email": HOLDER, "on_behalf": {"relationship": "self"}},
    ).json["id"]
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(rid=rid)})
    assert answer.json["status"] == "verified"
    with app.app_context():
        assert rt.db.session.get(DataRequest, rid).on_behalf is None


def test_guardian_closure_starts_the_cooling_off_only_on_approval(shop_db, app, client, smtp, rt):
    rid = for_someone(client, type="account_closure").json["id"]
    assert verify_requester(client, smtp, rt, rid)["status"] == "awaiting_review"
    with app.app_context():
        s = rt.db.session
        r = s.get(DataRequest, rid)
        behalf.record_check(s, r, outcome="accepted", method="in_person", note="hukou", actor="a")
        s.commit()
        with pytest.raises(Exception) as cli_like:
            staff.approve(s, rt.collector(), r, actor="staff:x")  # no runtime: refused
        assert cli_like.value.slug == "needs-dashboard"
        s.rollback()
        r = s.get(DataRequest, rid)
        operations.approve(s, rt, r, actor="staff:x")  # as the dashboard and the CLI do
        s.commit()
        # The demo customer may have blockers; either way it was decided now, not left running.
        assert r.status in ("cooling_off", "rejected")


@pytest.mark.every_backend  # dates compared in SQL
def test_evidence_is_deleted_some_time_after_the_request_closed(shop_db, app, client, smtp, rt):
    rid = for_someone(client, relationship="agent", type="deletion").json["id"]
    token = verify_requester(client, smtp, rt, rid)["access_token"]
    assert (
        client.post(
            f"/api/v1/requests/{rid}/evidence",
            data={"kind": "authorisation", "file": (io.BytesIO(PDF), "auth.pdf")},
            headers=bearer(token),
        ).status_code
        == 201
    )
    assert client.post(f"/api/v1/requests/{rid}/cancel", headers=bearer(token)).status_code == 200
    with app.app_context():
        s = rt.db.session
        assert behalf.purge_evidence(s, days=behalf.EVIDENCE_KEEP_DAYS) == 0  # closed just now
        s.execute(
            update(DataRequest)
            .where(DataRequest.id == rid)
            .values(closed_at=NOW - dt.timedelta(days=behalf.EVIDENCE_KEEP_DAYS + 1))
        )
        s.commit()
        from retention.engine import run

        record = run(rt.collector(), rt.policies, s)
        assert record.counts["on_behalf_evidence"]["request_evidence"] == 1
        (doc,) = behalf.evidence_of(s, rid)
        assert doc.body_enc is None and doc.deleted_at is not None
    late = client.post(
        f"/api/v1/requests/{rid}/evidence",
        data={"kind": "authorisation", "file": (io.BytesIO(PDF), "auth.pdf")},
        headers=bearer(token),
    )
    assert late.status_code == 409


def test_the_holder_is_told_in_chinese_and_the_requester_gets_a_chinese_code(
    shop_db, client, smtp, rt
):
    rid = client.post(
        "/api/v1/requests",
        json={
            "type": "deletion",
            "email": HOLDER,
            "language": "zh-CN",
            "on_behalf": {"relationship": "agent", "email": PARENT},
        },
    ).json["id"]
    (subject, body), *_ = messages_to(smtp, rt, PARENT, rid)
    assert "我们已收到您的请求" in subject
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_in(body)})
    assert answer.status_code == 200
    (subject, body), *_ = messages_to(smtp, rt, HOLDER, rid)
    assert "有人代您提出了请求" in subject and "经书面授权的代理人" in body
    assert PARENT not in body


def test_openapi_documents_on_behalf_and_the_evidence_upload(client):
    spec = client.get("/api/openapi.json").json
    assert "/api/v1/requests/{request_id}/evidence" in spec["paths"]
    schemas = spec["components"]["schemas"]
    create = next(v for k, v in schemas.items() if k.startswith("RequestCreate"))
    assert "on_behalf" in create["properties"]
    behalf_schema = next(
        v
        for k, v in schemas.items()
        if k.startswith("OnBehalf") and "name" in v.get("properties", {})
    )
    assert set(behalf_schema["properties"]) == {"relationship", "name", "email", "phone"}


def test_the_holder_is_told_in_their_own_language(app, client, smtp, rt):
    from privacy_service.subjects.directory import register

    with app.app_context():
        register(rt.db.session, email="li@example.com", preferred_language="en")
        rt.db.session.commit()
    rid = client.post(
        "/api/v1/requests",
        json={
            "type": "access",
            "email": "li@example.com",
            "language": "zh-CN",
            "on_behalf": {"relationship": "guardian", "email": PARENT},
        },
    ).json["id"]
    (_subject, body), *_ = messages_to(smtp, rt, PARENT, rid)
    client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_in(body)})
    (subject, body), *_ = messages_to(smtp, rt, "li@example.com", rid)
    assert "on your behalf" in subject and "Parent or guardian of a minor" in body
    assert "copy of my data" in body
