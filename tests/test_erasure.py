"""Correction, deletion and account closure against the demo shop, with legal retention,
legal holds, reasons given, and erasures that survive being interrupted."""

import datetime as dt
import signal
import subprocess
import sys
import time

import pytest
from conftest import bearer, worker_env
from sqlalchemy import func, select, update

from privacy_service import holds
from privacy_service.audit import AuditEntry
from privacy_service.crypto.vault import SubjectErased
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.directory import find_by_contact
from privacy_service.subjects.identity import IdentityDocument
from retention.processor import run_pending

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


LI_NA = "li.na@shop.example"


@pytest.fixture(autouse=True)
def li_na(session):
    """The agent named by ``--by`` (the CLI accepts only staff accounts)."""
    from privacy_service.team.accounts import create

    create(session, email=LI_NA, role="agent", password="correct horse battery")
    session.commit()


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=40, now=NOW)
    return rt.sources["shop"]


def count(engine, table, where):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(where)).scalar()


def status(client, rid, token):
    return client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json


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


def _make_closable(engine):
    with engine.begin() as conn:
        conn.execute(
            update(shop.orders)
            .where(
                shop.orders.c.customer_id == 1,
                shop.orders.c.status.in_(["unpaid", "paid", "shipped"]),
            )
            # Delivered: a parcel still on its way blocks a closure too.
            .values(status="completed", shipped_at=NOW, completed_at=NOW)
        )
        conn.execute(
            update(shop.gift_cards)
            .where(shop.gift_cards.c.customer_id == 1)
            .values(balance_cents=0)
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

    _make_closable(shop_db)
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
    session.execute(
        update(DataRequest)
        .where(DataRequest.id == rid)
        .values(cooling_off_until=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    )
    session.commit()
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
    _make_closable(shop_db)
    rid, token = verified(type="account_closure")
    answer = client.post(f"/api/v1/requests/{rid}/cancel", headers=bearer(token))
    assert answer.status_code == 200 and answer.json["status"] == "cancelled"


def test_legal_holds_block_closure_and_keep_held_categories(
    shop_db, verified, client, rt, session, runner
):
    _make_closable(shop_db)
    demo = find_by_contact(session, "email", "demo@example.com")
    holds.place(
        session,
        subject_id=demo.id,
        category=None,
        reason="法院调查 case 2026-17",
        until=dt.date.today() + dt.timedelta(days=30),
        actor="staff:li.na",
        categories=rt.policies.categories,
    )
    session.commit()
    rid, token = verified(type="account_closure")
    body = status(client, rid, token)
    assert body["status"] == "rejected" and body["reasons"][0]["code"] == "legal_hold"
    assert "case 2026-17" not in str(body)

    hold = session.scalars(select(holds.LegalHold)).one()
    holds.release(session, hold.id, actor="staff:li.na")
    holds.place(
        session,
        subject_id=demo.id,
        category="browsing",
        reason="internal",
        until=dt.date.today() + dt.timedelta(days=30),
        actor="staff:li.na",
        categories=rt.policies.categories,
    )
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


def test_an_interrupted_erasure_resumes_without_double_effects(
    shop_db, verified, runner, rt, session, client
):
    rid, token = verified(type="deletion", categories=["browsing", "lists", "devices"])
    runner.invoke(args=["requests", "approve", rid, "--by", LI_NA])
    deps = rt.erasure_deps()
    deps.batch = 7
    calls = {"n": 0}

    def crash(step, rows):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")

    deps.progress = crash
    with pytest.raises(KeyboardInterrupt):
        run_pending(deps)
    assert 0 < count(shop_db, shop.browsing_events, shop.browsing_events.c.customer_id == 1) < 40
    session.execute(
        update(DataRequest).values(claim_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.commit()
    deps.progress = None
    assert run_pending(deps) == 1
    assert count(shop_db, shop.browsing_events, shop.browsing_events.c.customer_id == 1) == 0
    receipt = status(client, rid, token)["receipt"]
    assert receipt["categories"]["browsing"]["deleted"] == 40, "counts from the plan, not the rerun"
    done = session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "erasure.step_done")
    )
    assert done == len(session.get(DataRequest, rid).erasure_plan["steps"])


@pytest.mark.slow
def test_a_worker_killed_mid_deletion_finishes_on_the_next_run(
    make_app, database_url, tmp_path, session, smtp, backend
):
    app = make_app()
    rt = app.extensions["privacy"]
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=60_000, now=NOW)
    client = app.test_client()
    import re

    rid = client.post(
        "/api/v1/requests",
        json={"type": "deletion", "email": "demo@example.com", "categories": ["browsing"]},
    ).json["id"]
    rt.notifier.wait()
    code = re.search(r"\b(\d{6})\b", smtp.wait_for(1)[0].get_payload(decode=True).decode()).group(1)
    assert client.post(f"/api/v1/requests/{rid}/verify", json={"code": code}).status_code == 200
    from privacy_service.requests import staff

    staff.approve(session, rt.collector(), session.get(DataRequest, rid), actor="staff:li.na")
    session.commit()
    env = worker_env(app, tmp_path, erasure_batch=200)
    worker = subprocess.Popen(
        [sys.executable, "-m", "privacy_service.cli", "erasures", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    be = shop.browsing_events
    deadline = time.monotonic() + 60
    while count(rt.sources["shop"], be, be.c.customer_id == 1) > 59_000:
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    left = count(rt.sources["shop"], be, be.c.customer_id == 1)
    assert 0 < left < 60_000, "killed half-way"
    session.expire_all()
    assert session.get(DataRequest, rid).status == "in_progress"
    session.execute(
        update(DataRequest).values(claim_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.commit()
    assert run_pending(rt.erasure_deps()) == 1
    assert count(rt.sources["shop"], be, be.c.customer_id == 1) == 0
    assert count(rt.sources["shop"], be, be.c.customer_id == 2) == 60_000
    session.expire_all()
    request = session.get(DataRequest, rid)
    assert request.status == "completed"
    assert request.receipt["categories"]["browsing"]["deleted"] == 60_000


def test_a_hold_on_an_unknown_category_is_refused_and_changes_nothing(shop_db, rt, session):
    demo = find_by_contact(session, "email", "demo@example.com")
    with pytest.raises(holds.UnknownCategory, match="unknown category"):
        holds.place(
            session,
            subject_id=demo.id,
            category="no_such_category",
            reason="internal",
            until=dt.date.today() + dt.timedelta(days=30),
            actor="staff:li.na",
            categories=rt.policies.categories,
        )
    session.rollback()
    assert session.scalars(select(holds.LegalHold)).first() is None
