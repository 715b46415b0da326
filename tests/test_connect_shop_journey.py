"""Connecting an operator's own shop: a customer's requests reach it.

A shop unlike the demo (``members(member_no, mail, mobile)``, text keys: ``shopfix``), on SQLite,
MariaDB and (with ``TEST_DATABASE_URL``) PostgreSQL, connected by a data map and environment
variables alone (``connectfix``). Customers are found in the shop at submission, with no
registration step; the code arrives over real SMTP; the export holds their rows from every
account their contact matched; deletion and closure reach the shop.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import approver, bearer
from connectfix import export_of, rows_of, rt_of, submit_and_verify
from shopfix import DATAMAP, member_addresses, members
from sqlalchemy import select

from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.models import Subject, SubjectAccount
from retention.processor import end_cooling_off
from retention.processor import run_pending as run_erasures


def test_a_customer_of_a_never_seen_shop_gets_a_code_and_their_rows(
    shop_app, shop_client, smtp, shop_db
):
    """Submit -> code at SMTP -> verify -> export ZIP with both accounts of that e-mail."""
    rid, token = submit_and_verify(shop_app, shop_client, smtp, email="LI.NA@example.com ")
    archive = export_of(shop_app, shop_client, rid, token)
    manifest = json.loads(archive.read("manifest.json"))
    assert sorted(a["key"] for a in manifest["accounts"]) == ["M-001", "M-002"]
    dumped = json.dumps(
        [rows_of(archive, c) for c in ("account", "addresses", "orders")], ensure_ascii=False
    )
    assert "李娜" in dumped and "SKU-M-001" in dumped and "SKU-M-002" in dumped
    assert "王芳" not in dumped and "SKU-M-003" not in dumped, "another customer's rows leaked"
    status = shop_client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert status["status"] == "completed"
    assert {(a["source"], a["key"]) for a in status["accounts"]} == {
        ("crm", "M-001"),
        ("crm", "M-002"),
    }
    done = {(s["action"], s["source"]): s for s in status["sources"]}
    assert done[("lookup", "crm")]["rows"] == 2 and done[("lookup", "crm")]["status"] == "done"
    assert done[("access", "crm")]["status"] == "done" and done[("access", "crm")]["rows"] > 0


def test_a_phone_typed_differently_matches_only_its_account(shop_app, shop_client, smtp):
    rid, token = submit_and_verify(shop_app, shop_client, smtp, phone="139 1234 5678")
    archive = export_of(shop_app, shop_client, rid, token)
    dumped = json.dumps(rows_of(archive, "orders"), ensure_ascii=False)
    assert "SKU-M-001" in dumped and "SKU-M-002" not in dumped
    with shop_app.app_context():
        session = rt_of(shop_app).db.session
        request = session.get(DataRequest, rid)
        subject = session.get(Subject, request.subject_id)
        assert subject.phone == "13912345678", "registered at first match, contact normalised"
        links = session.scalars(select(SubjectAccount.account_key)).all()
        assert links == ["M-001"]


def test_the_same_person_by_email_later_joins_the_same_subject(shop_app, shop_client, smtp):
    first, _ = submit_and_verify(shop_app, shop_client, smtp, phone="+8613912345678")
    second, _ = submit_and_verify(shop_app, shop_client, smtp, email="li.na@example.com")
    with shop_app.app_context():
        session = rt_of(shop_app).db.session
        a, b = session.get(DataRequest, first), session.get(DataRequest, second)
        assert a.subject_id == b.subject_id, "M-001 was already that subject's account"
        assert session.scalar(select(SubjectAccount).where(SubjectAccount.account_key == "M-002"))


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_no_match_answers_the_same_and_sends_nothing(shop_app, shop_client, smtp, shop_db):
    known = shop_client.post(
        "/api/v1/requests", json={"type": "access", "email": "wang@example.org"}
    )
    unknown = shop_client.post(
        "/api/v1/requests", json={"type": "access", "email": "nobody@example.org"}
    )
    assert known.status_code == unknown.status_code == 202
    assert set(known.json) == set(unknown.json)
    assert known.json["status"] == unknown.json["status"] == "pending_verification"
    rt_of(shop_app).notifier.wait()
    smtp.wait_for(1)
    time.sleep(0.2)
    assert len(smtp.messages) == 1, "only the customer got a code"
    with shop_app.app_context():
        request = rt_of(shop_app).db.session.get(DataRequest, unknown.json["id"])
        assert request.identity_status == "unmatched" and request.subject_id is None


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_deletion_and_closure_reach_the_shop(shop_app, shop_client, smtp, shop_db, runner_for):
    from sqlalchemy import create_engine

    rid, token = submit_and_verify(
        shop_app,
        shop_client,
        smtp,
        email="li.na@example.com",
        type="deletion",
        categories=["addresses"],
    )
    result = runner_for(shop_app).invoke(
        args=["requests", "approve", rid, "--by", approver(shop_app)]
    )
    assert result.exit_code == 0, result.output
    assert run_erasures(rt_of(shop_app).erasure_deps()) == 1
    engine = create_engine(shop_db.url)
    with engine.connect() as conn:
        left = conn.execute(select(members.c.member_no)).all()
        kept = conn.execute(select(member_addresses.c.member_no)).scalars().all()
    assert kept == ["M-003"], "both of Li Na's accounts lost their addresses, nobody else's"
    assert len(left) == 3, "deleting addresses leaves the accounts"
    status = shop_client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert status["status"] == "completed"
    assert status["receipt"]["categories"]["addresses"]["deleted"] == 2
    assert [(s["action"], s["source"], s["status"]) for s in status["receipt"]["sources"]] == [
        ("deletion", "crm", "done"),
        ("lookup", "crm", "done"),
    ]

    closure, token = submit_and_verify(
        shop_app, shop_client, smtp, phone="13811112222", type="account_closure"
    )
    with shop_app.app_context():
        session = rt_of(shop_app).db.session
        assert session.get(DataRequest, closure).status == "cooling_off"
        end_cooling_off(rt_of(shop_app).erasure_deps(), session, now=utcnow().replace(year=2099))
    assert run_erasures(rt_of(shop_app).erasure_deps()) == 1
    with engine.connect() as conn:
        states = dict(conn.execute(select(members.c.member_no, members.c.state)).all())
    engine.dispose()
    assert states == {"M-001": "open", "M-002": "open", "M-003": "closed"}
    receipt = shop_client.get(f"/api/v1/requests/{closure}", headers=bearer(token)).json
    assert receipt["status"] == "completed" and receipt["receipt"]["account_closed"] is True


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_identity_documents_find_an_operators_customer_by_their_own_id(operator_app, shop_db, smtp):
    """The customs service names the customer by member_no once they are known to the service."""
    from test_vault import id_number

    token = "customs-service-token-0123456789abcdef"
    app = operator_app(service_tokens=f"customs:{token}")
    client = app.test_client()
    rid, _ = submit_and_verify(app, client, smtp, email="wang@example.org")
    stored = client.post(
        "/api/v1/identity-documents",
        headers={"Authorization": f"Bearer {token}"},
        json={"customer_ref": "M-003", "id_number": id_number(3), "holder_name": "王芳"},
    )
    assert stored.status_code == 201, stored.json
    with app.app_context():
        assert stored.json["subject_id"] == rt_of(app).db.session.get(DataRequest, rid).subject_id


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_a_contact_still_in_the_shop_after_closure_starts_afresh(operator_app, shop_db, smtp):
    """The shop kept the phone of a closed account: a new request gets a new subject and key."""
    kept_phone = DATAMAP.replace(
        "          mobile: {category: account, type: phone, sensitive: true}\n", ""
    )
    app = operator_app(kept_phone)
    client = app.test_client()
    rt = rt_of(app)
    closure, _ = submit_and_verify(app, client, smtp, phone="13811112222", type="account_closure")
    with app.app_context():
        end_cooling_off(rt.erasure_deps(), rt.db.session, now=utcnow().replace(year=2099))
    assert run_erasures(rt.erasure_deps()) == 1
    again, _token = submit_and_verify(app, client, smtp, phone="13811112222")
    with app.app_context():
        session = rt.db.session
        old = session.get(DataRequest, closure).subject_id
        new = session.get(DataRequest, again).subject_id
        assert new != old, "the closed account's key is gone; the new request has its own"
        link = session.scalars(select(SubjectAccount).where(SubjectAccount.account_key == "M-003"))
        assert link.one().subject_id == new
