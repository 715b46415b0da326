"""Account closure against the demo shop: blocked with reasons, cooling off, cancelled, or blocked
by a legal hold; a hold keeps its categories through a deletion."""

import datetime as dt

import pytest
from conftest import bearer
from dbfix import count_rows as count
from erasurefix import LI_NA, NOW, make_closable, status
from journeyfix import cooling_off_over
from sqlalchemy import select

from privacy_service import holds
from privacy_service.crypto.vault import SubjectErased
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.subjects.directory import find_by_contact
from privacy_service.subjects.identity import IdentityDocument
from retention.processor import run_pending

# The agent the CLI's ``--by`` names, in every test (erasurefix).
pytestmark = pytest.mark.usefixtures("li_na")


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=40, now=NOW)
    return rt.sources["shop"]


def _hold(session, rt, subject_id, category, reason):
    """Li Na places a legal hold on the customer's ``category`` (None: all) for 30 days."""
    holds.place(
        session,
        subject_id=subject_id,
        category=category,
        reason=reason,
        until=dt.date.today() + dt.timedelta(days=30),
        actor="staff:li.na",
        categories=rt.policies.categories,
    )


def test_closure_is_blocked_then_cools_off_then_leaves_nothing_decryptable(
    shop_db, verified, client, rt, session
):
    rid, token = verified(type="account_closure")
    blocked = status(client, rid, token)
    assert blocked["status"] == "rejected"
    codes = {r["code"]: r for r in blocked["reasons"]}
    assert set(codes) == {"unshipped_orders", "balance"}
    assert (
        codes["unshipped_orders"]["zh-CN"] == "您有尚未发货的订单"
        and codes["unshipped_orders"]["remedy"]["en"]
    )

    make_closable(shop_db)
    rid, token = verified(type="account_closure")
    body = status(client, rid, token)
    assert body["status"] == "cooling_off" and body["can_cancel"] is True
    assert dt.datetime.fromisoformat(body["cooling_off_until"]) > dt.datetime.now(
        dt.UTC
    ) + dt.timedelta(days=6)
    assert run_pending(rt.erasure_deps()) == 0, "nothing happens during the cooling-off"

    document = session.scalars(select(IdentityDocument)).first()
    demo = find_by_contact(session, "email", "demo@example.com")
    envelope = bytes(
        session.scalars(
            select(IdentityDocument.id_number_enc).where(IdentityDocument.subject_id == demo.id)
        ).one()
    )
    doc_id = session.scalars(
        select(IdentityDocument.id).where(IdentityDocument.subject_id == demo.id)
    ).one()
    assert document is not None
    cooling_off_over(session, rid)
    assert run_pending(rt.erasure_deps()) == 1
    body = status(client, rid, token)
    assert body["status"] == "completed"
    receipt = body["receipt"]
    assert receipt["account_closed"] and receipt["keys_destroyed"]
    assert receipt["categories"]["browsing"]["deleted"] == 40
    with shop_db.connect() as conn:
        assert (
            conn.execute(select(shop.customers.c.status).where(shop.customers.c.id == 1)).scalar()
            == "closed"
        )
    assert count(shop_db, shop.preferences, shop.preferences.c.customer_id == 1) == 0, (
        "consent withdrawn"
    )
    rt.vault.forget_cached_keys()
    session.expire_all()
    with pytest.raises(SubjectErased):  # the ID number, even from a copy made before
        rt.vault.open(session, envelope, "identity_documents", "id_number_enc", doc_id)
    with pytest.raises(SubjectErased):
        _ = session.get(type(demo), demo.id).email
    assert find_by_contact(session, "email", "demo@example.com") is None


def test_closure_can_be_cancelled_during_cooling_off(shop_db, verified, client):
    make_closable(shop_db)
    rid, token = verified(type="account_closure")
    answer = client.post(f"/api/v1/requests/{rid}/cancel", headers=bearer(token))
    assert answer.status_code == 200 and answer.json["status"] == "cancelled"


def test_legal_holds_block_closure_and_keep_held_categories(
    shop_db, verified, client, rt, session, runner
):
    make_closable(shop_db)
    demo = find_by_contact(session, "email", "demo@example.com")
    _hold(session, rt, demo.id, None, "法院调查 case 2026-17")
    session.commit()
    rid, token = verified(type="account_closure")
    body = status(client, rid, token)
    assert body["status"] == "rejected" and body["reasons"][0]["code"] == "legal_hold"
    assert "case 2026-17" not in str(body)

    hold = session.scalars(select(holds.LegalHold)).one()
    holds.release(session, hold.id, actor="staff:li.na")
    _hold(session, rt, demo.id, "browsing", "internal")
    session.commit()
    rid, token = verified(type="deletion", categories=["browsing", "lists"])
    runner.invoke(args=["requests", "approve", rid, "--by", LI_NA])
    run_pending(rt.erasure_deps())
    receipt = status(client, rid, token)["receipt"]
    kept = receipt["categories"]["browsing"]["kept"][0]
    assert kept["rows"] == 40 and kept["basis"]["en"].startswith("Kept to meet a legal obligation")
    assert "internal" not in str(receipt)
    assert receipt["categories"]["lists"]["deleted"] > 0
    assert count(shop_db, shop.browsing_events, shop.browsing_events.c.customer_id == 1) == 40


def test_a_hold_on_an_unknown_category_is_refused_and_changes_nothing(shop_db, rt, session):
    demo = find_by_contact(session, "email", "demo@example.com")
    with pytest.raises(holds.UnknownCategory, match="unknown category"):
        _hold(session, rt, demo.id, "no_such_category", "internal")
    session.rollback()
    assert session.scalars(select(holds.LegalHold)).first() is None
