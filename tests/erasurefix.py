"""What the erasure tests share (a pytest plugin): the agent who approves, counts, statuses.

Correction, deletion and closure run against the demo shop seeded at ``NOW``; ``li_na`` is the
agent the CLI's ``--by`` names (it accepts only staff accounts).
"""

from __future__ import annotations

import datetime as dt

import pytest
from journeyfix import bearer
from sqlalchemy import update

from privacy_service.demo import shop_schema as shop

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


LI_NA = "li.na@shop.example"


@pytest.fixture
def li_na(session):
    """The agent named by ``--by`` (the CLI accepts only staff accounts)."""
    from privacy_service.team.accounts import create

    create(session, email=LI_NA, role="agent", password="correct horse battery")
    session.commit()


def status(client, rid, token):
    """The request's status as its customer reads it."""
    return client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json


def make_closable(engine):
    """Nothing of the demo customer blocks a closure: orders delivered, gift card spent."""
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
