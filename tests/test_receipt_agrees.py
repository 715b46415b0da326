"""Every row a closure keeps has a retention end the receipt states and `retention explain` agrees.

Also: a cancelled order is not kept for ever, and the kept customs declarations are explained
(they hold no ID number; the number itself is deleted from the vault).
"""

import datetime as dt
import json

from conftest import bearer
from sqlalchemy import select, update

from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.requests.models import DataRequest
from retention.processor import run_pending

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def test_every_kept_row_of_a_closed_customer_agrees_with_retention_explain(
    app, rt, session, verified, client, runner
):
    engine = rt.sources["shop"]
    seed(session, engine, customers=2, browsing_per_customer=3, now=NOW)
    o = shop.orders
    with engine.begin() as conn:
        conn.execute(
            update(o)
            .where(o.c.customer_id == 1, o.c.status.in_(["unpaid", "paid", "shipped"]))
            .values(status="completed", shipped_at=NOW, completed_at=NOW)
        )
        conn.execute(update(shop.gift_cards).values(balance_cents=0))
        cd = shop.customs_declarations
        conn.execute(  # delivered parcels cleared customs
            update(cd).where(cd.c.cleared_at.is_(None)).values(status="cleared", cleared_at=NOW)
        )
        # A cancelled order, as the demo shop writes one (ended when cancelled).
        first = conn.execute(select(o.c.id, o.c.placed_at).where(o.c.customer_id == 1)).first()
        conn.execute(
            update(o)
            .where(o.c.id == first.id)
            .values(
                status="cancelled",
                shipped_at=None,
                completed_at=first.placed_at + dt.timedelta(days=1),
            )
        )
    cancelled = [first.id]
    rid, token = verified(type="account_closure")
    session.execute(
        update(DataRequest)
        .where(DataRequest.id == rid)
        .values(cooling_off_until=NOW - dt.timedelta(minutes=1))
    )
    session.commit()
    assert run_pending(rt.erasure_deps()) == 1
    receipt = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["receipt"]

    checked = 0
    for category, outcome in receipt["categories"].items():
        for kept in outcome["kept"]:
            table = shop.metadata.tables[kept["table"]]
            with engine.connect() as conn:
                rows = (
                    conn.execute(select(table.c.id).where(table.c.restricted.is_(True)))
                    .scalars()
                    .all()
                )
            assert kept["until"], f"{category}/{kept['table']}: a closed customer's rows all end"
            ends = []
            for row_id in rows:
                result = runner.invoke(args=["retention", "explain", kept["table"], str(row_id)])
                explained = json.loads(result.output)
                assert explained["rule"], explained
                assert explained["goes_on"] and explained["goes_on"] <= kept["until"], explained
                assert explained["basis"]["zh-CN"]
                ends.append(explained["goes_on"])
            assert max(ends) == kept["until"], kept["table"]
            checked += len(rows)
    assert checked > 10

    for order_id in cancelled:
        result = runner.invoke(args=["retention", "explain", "orders", str(order_id)])
        assert json.loads(result.output)["goes_on"], "a cancelled order is not kept for ever"

    kept_declarations = next(
        k
        for k in receipt["categories"]["identity_documents"]["kept"]
        if k["table"] == "customs_declarations"
    )
    assert "ID number" in kept_declarations["note"]["en"]
    assert receipt["categories"]["identity_documents"]["deleted"] >= 1, "the vault's number went"


def test_the_demo_shop_dates_the_end_of_cancelled_orders(app, rt, session):
    engine = rt.sources["shop"]
    seed(session, engine, customers=12, browsing_per_customer=1, now=NOW)
    o = shop.orders
    with engine.connect() as conn:
        cancelled = (
            conn.execute(select(o.c.completed_at).where(o.c.status == "cancelled")).scalars().all()
        )
    assert cancelled and all(cancelled), "a cancelled order's period runs from its cancellation"
