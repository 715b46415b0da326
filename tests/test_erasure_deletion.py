"""Correction and deletion against the demo shop: corrections reviewed into the shop or refused,
refusals that carry their reasons, deletion that keeps what the law retains, restricted, and says
why."""

import datetime as dt

import pytest
from dbfix import count_rows as count
from erasurefix import LI_NA, NOW, status
from sqlalchemy import func, select, update

from privacy_service.audit import AuditEntry
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.directory import find_by_contact
from privacy_service.subjects.identity import IdentityDocument
from retention.processor import run_pending

# The agent the CLI's ``--by`` names, in every test (erasurefix).
pytestmark = pytest.mark.usefixtures("li_na")


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=40, now=NOW)
    return rt.sources["shop"]


def test_correction_of_a_phone_goes_through_review_into_the_shop(
    shop_db, verified, client, runner, session
):
    rid, token = verified(
        type="correction",
        corrections=[{"category": "account", "field": "phone", "value": "+86 139-1234-5678"}],
    )
    assert status(client, rid, token)["status"] == "awaiting_review"
    result = runner.invoke(args=["requests", "approve", rid, "--by", LI_NA])
    assert result.exit_code == 0, result.output
    assert status(client, rid, token)["status"] == "completed"
    with shop_db.connect() as conn:
        assert (
            conn.execute(select(shop.customers.c.phone).where(shop.customers.c.id == 1)).scalar()
            == "13912345678"
        )
    assert find_by_contact(session, "phone", "13912345678") is not None
    assert find_by_contact(session, "phone", "13800138000") is None
    applied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "correction.applied")
    ).one()
    assert applied.fields == ["customers.phone"] and "13912345678" not in str(applied.details)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"category": "account", "field": "phone", "value": "12345"}, "value"),
        ({"category": "orders", "field": "order_no", "value": "X"}, "field"),
        ({"category": "addresses", "field": "city", "value": "上海市"}, "record_id"),
        (
            {"category": "addresses", "field": "postal_code", "value": "abc", "record_id": 1},
            "value",
        ),
    ],
)
def test_invalid_corrections_are_refused_at_intake(client, item, field):
    answer = client.post(
        "/api/v1/requests",
        json={"type": "correction", "email": "a@example.com", "corrections": [item]},
    )
    assert answer.status_code == 422
    assert field in answer.json["errors"]["corrections"]["0"]
    assert item["value"] not in answer.get_data(as_text=True)


def test_a_correction_of_someone_elses_record_is_refused(shop_db, verified, runner, session):
    other_address = 50  # customer 1 has ids 1-2; these belong to others
    rid, _ = verified(
        type="correction",
        corrections=[
            {
                "category": "addresses",
                "field": "city",
                "value": "上海市",
                "record_id": other_address,
            }
        ],
    )
    result = runner.invoke(args=["requests", "approve", rid, "--by", LI_NA])
    assert result.exit_code != 0 and "Not one of yours" in result.output
    assert session.get(DataRequest, rid).status == "awaiting_review"


def test_refusal_carries_reasons_to_the_customer(verified, client, runner):
    rid, token = verified(type="deletion", categories=["browsing"])
    result = runner.invoke(
        args=[
            "requests",
            "refuse",
            rid,
            "--by",
            LI_NA,
            "--reason-zh",
            "无法核实您的身份",
            "--reason-en",
            "We could not confirm it is you",
        ]
    )
    assert result.exit_code == 0
    body = status(client, rid, token)
    assert body["status"] == "rejected"
    assert body["reasons"] == [
        {"code": "refused", "zh-CN": "无法核实您的身份", "en": "We could not confirm it is you"}
    ]


def test_deletion_of_browsing_history(shop_db, verified, client, runner, rt):
    rid, token = verified(type="deletion", categories=["browsing"])
    runner.invoke(args=["requests", "approve", rid, "--by", LI_NA])
    assert run_pending(rt.erasure_deps()) == 1
    be = shop.browsing_events
    assert count(shop_db, be, be.c.customer_id == 1) == 0
    assert count(shop_db, be, be.c.customer_id == 2) == 40, "other customers untouched"
    body = status(client, rid, token)
    assert body["status"] == "completed"
    assert body["receipt"]["categories"] == {
        "browsing": {"deleted": 40, "anonymised": 0, "kept": []}
    }


def test_deleting_everything_keeps_transaction_records_restricted_with_reasons(
    shop_db, verified, client, runner, rt, session
):
    o = shop.orders
    with shop_db.begin() as conn:  # one order completed 4 years ago: past the 3-year duty
        conn.execute(
            update(o).where(o.c.id == 1).values(completed_at=NOW - dt.timedelta(days=4 * 365))
        )
    cutoff = (NOW - dt.timedelta(days=3 * 365)).replace(tzinfo=None)
    mine = o.c.customer_id == 1
    duty = mine & (o.c.completed_at.is_(None) | (o.c.completed_at > cutoff))
    expected_kept = count(shop_db, o, duty)
    assert 0 < expected_kept < count(shop_db, o, mine)
    demo_id = find_by_contact(session, "email", "demo@example.com").id
    others_docs = session.scalar(
        select(func.count())
        .select_from(IdentityDocument)
        .where(IdentityDocument.subject_id != demo_id)
    )
    session.commit()
    rid, token = verified(type="deletion")
    runner.invoke(args=["requests", "approve", rid, "--by", LI_NA])
    assert run_pending(rt.erasure_deps()) == 1
    receipt = status(client, rid, token)["receipt"]
    orders = receipt["categories"]["orders"]
    kept_orders = [k for k in orders["kept"] if k["table"] == "orders"]
    assert sum(k["rows"] for k in kept_orders) == expected_kept
    assert orders["anonymised"] >= count(shop_db, o, mine) - expected_kept
    assert all(k["basis"]["en"].startswith("E-commerce Law Art. 31") for k in kept_orders)
    # Completed orders with the date their period ends; open ones apart, with no date yet.
    dated = next(k for k in kept_orders if k["until"])
    still_open = next(k for k in kept_orders if not k["until"])
    assert dated["until"] > NOW.date().isoformat()
    assert still_open["note"]["zh-CN"], "open orders: kept until three years after completion"
    with shop_db.connect() as conn:
        restricted = conn.execute(
            select(func.count())
            .select_from(o)
            .where(o.c.customer_id == 1, o.c.restricted.is_(True))
        ).scalar()
        old = conn.execute(select(o.c.shipping_address, o.c.restricted).where(o.c.id == 1)).one()
        customer = conn.execute(select(shop.customers).where(shop.customers.c.id == 1)).one()
    assert restricted == expected_kept and old == (None, False)
    assert customer.name == "匿名用户" and customer.email is None and customer.phone is None
    assert count(shop_db, shop.addresses, shop.addresses.c.customer_id == 1) == 0
    assert count(shop_db, shop.gift_cards, shop.gift_cards.c.customer_id == 1) == 1, "balance kept"
    assert receipt["categories"]["payments"]["kept"][-1]["basis"]["en"].startswith("A gift card")
    docs = select(func.count()).select_from(IdentityDocument)
    assert session.scalar(docs.where(IdentityDocument.subject_id == demo_id)) == 0
    assert session.scalar(docs) == others_docs, "other customers' documents untouched"
    assert receipt["account_closed"] is False and receipt["keys_destroyed"] is False
