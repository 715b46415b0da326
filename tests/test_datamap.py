"""The data map: validation with line numbers, checks against live databases, collection that
returns exactly one customer's rows, and a deterministic demo shop."""

import datetime as dt
import shutil
from collections import Counter

import pytest
from sqlalchemy import delete, func, insert, select, text

from privacy_service.config import DEMO_POLICIES
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.policies import PolicyError, load_policies
from privacy_service.subjects.directory import find_by_contact, register

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def shop_seeded(app, rt, session):
    summary = seed(session, rt.sources["shop"], customers=4, browsing_per_customer=30, now=NOW)
    assert summary is not None
    return rt.sources["shop"]


def test_datamap_check_passes_on_the_demo_shop(shop_seeded, runner, rt):
    result = runner.invoke(args=["datamap", "check"])
    assert result.exit_code == 0, result.output
    sources = rt.policies.datamap.sources
    tables = sum(len(s.tables) for s in sources.values())
    assert f"data map OK: {len(sources)} sources, {tables} tables" in result.output
    assert tables >= 18  # memberships and household settings are mapped too


def test_datamap_check_fails_clearly_on_a_broken_map(shop_seeded, runner, rt):
    with rt.sources["shop"].begin() as conn:
        conn.execute(text("ALTER TABLE devices DROP COLUMN city"))
    result = runner.invoke(args=["datamap", "check"])
    assert result.exit_code == 1
    assert "source 'shop': devices.city: no such column (field)" in result.output
    assert "policies/datamap.yaml:" in result.output, "the file and line of the source"


@pytest.fixture
def policy_copy(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(DEMO_POLICIES, target)
    return target


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (
            "          rating: {category: reviews_profile, type: integer}",
            "          rating: {category: opinions, type: integer}",
            "sources.shop.tables.reviews.fields.rating.category: Unknown category",
        ),
        (
            "          rating: {category: reviews_profile, type: integer}",
            "          rating: {category: reviews_profile, type: stars}",
            "sources.shop.tables.reviews.fields.rating.type: Must be one of",
        ),
        (
            "references: orders.id}\n        restrict_column: restricted\n        fields:\n"
            "          sku:",
            "references: baskets.id}\n        restrict_column: restricted\n        fields:\n"
            "          sku:",
            "sources.shop.tables.order_items.link.references: baskets is not a table",
        ),
        (
            "    url_env: PRIVACY_SHOP_DATABASE_URL",
            "    url_env: postgresql://shop:secret@db/shop",
            "sources.shop.url_env: An environment variable name",
        ),
        (
            "    url_env: PRIVACY_SHOP_DATABASE_URL",
            "    url_setting: shop_password",
            "sources.shop.url_setting: Not a setting",
        ),
        (
            "          token: {category: payments, type: text, export: false}",
            "          token: {category: payments, type: text, exprot: false}",
            "sources.shop.tables.payment_methods.fields.token.exprot: Unknown field",
        ),
    ],
)
def test_invalid_datamap_names_file_line_and_field(policy_copy, old, new, where):
    path = policy_copy / "datamap.yaml"
    text_ = path.read_text()
    assert old in text_
    path.write_text(text_.replace(old, new))
    line = next(
        i for i, ln in enumerate(path.read_text().splitlines(), 1) if new.splitlines()[0] in ln
    )
    with pytest.raises(PolicyError) as exc:
        load_policies(policy_copy)
    message = str(exc.value)
    assert "datamap.yaml:" in message and where in message
    assert f"datamap.yaml:{line}:" in message or "url_setting" in where or "link" in where


def test_link_cycles_are_refused(policy_copy):
    path = policy_copy / "datamap.yaml"
    path.write_text(
        path.read_text().replace(
            "      orders:\n        link: {column: customer_id, references: customers.id}",
            "      orders:\n        link: {column: customer_id, references: order_items.id}",
        )
    )
    with pytest.raises(PolicyError, match="Does not lead to the identity table"):
        load_policies(policy_copy)


def _add_twin(shop_engine):
    """A second 张伟 at the same address with a phone sharing the demo's prefix, with orders."""
    with shop_engine.begin() as conn:
        demo_address = conn.execute(
            select(shop.addresses).where(shop.addresses.c.customer_id == 1)
        ).first()
        conn.execute(
            insert(shop.customers).values(
                id=100,
                email="zhangwei2@example.net",
                phone="13800138001",
                name="张伟",
                status="active",
                created_at=NOW,
            )
        )
        conn.execute(
            insert(shop.addresses).values(
                id=1000,
                customer_id=100,
                recipient="张伟",
                phone="13800138001",
                province=demo_address.province,
                city=demo_address.city,
                district=demo_address.district,
                street=demo_address.street,
                postal_code=demo_address.postal_code,
                is_default=True,
                created_at=NOW,
            )
        )
        conn.execute(
            insert(shop.orders).values(
                id=10_000,
                customer_id=100,
                order_no="SO-TWIN-1",
                status="completed",
                total_cents=100,
                currency="CNY",
                shipping_address="同一地址",
                placed_at=NOW,
            )
        )
        conn.execute(
            insert(shop.order_items).values(
                id=100_000,
                order_id=10_000,
                sku="SKU-X",
                product_name="双胞胎商品",
                quantity=1,
                unit_price_cents=100,
            )
        )
        conn.execute(
            insert(shop.browsing_events).values(
                id=1_000_000, customer_id=100, kind="search", query="双胞胎", occurred_at=NOW
            )
        )


def test_collection_returns_exactly_the_customers_rows(shop_seeded, rt, session):
    _add_twin(shop_seeded)
    register(
        session, email="zhangwei2@example.net", phone="13800138001", name="张伟", external_ref="100"
    )
    session.commit()
    demo = find_by_contact(session, "email", "demo@example.com")
    batches = list(rt.collector().collect(session, demo, batch_size=7))
    got = Counter()
    for batch in batches:
        got[batch.table] += len(batch.rows)
        flat = repr(batch.rows)
        assert "双胞胎" not in flat and "SO-TWIN-1" not in flat and "13800138001" not in flat
    assert max(len(b.rows) for b in batches) <= 7, "rows come in batches"
    with shop_seeded.connect() as conn:

        def count(table, where):
            return conn.execute(select(func.count()).select_from(table).where(where)).scalar()

        mine = select(shop.orders.c.id).where(shop.orders.c.customer_id == 1)
        expected = {
            "customers": 1,
            "orders": count(shop.orders, shop.orders.c.customer_id == 1),
            "order_items": count(shop.order_items, shop.order_items.c.order_id.in_(mine)),
            "browsing_events": 30,
            "addresses": count(shop.addresses, shop.addresses.c.customer_id == 1),
            "customs_declarations": count(
                shop.customs_declarations, shop.customs_declarations.c.order_id.in_(mine)
            ),
        }
    for table, n in expected.items():
        assert got[table] == n, table
    assert got["identity_documents"] == 1
    categories = {b.category for b in batches}
    assert {
        "account",
        "orders",
        "browsing",
        "identity_documents",
        "payments",
        "devices",
    } <= categories
    # The identity document comes decrypted from the vault, for its owner only.
    doc = next(b for b in batches if b.table == "identity_documents")
    assert len(doc.rows[0][doc.columns.index("id_number")]) == 18
    # Payment tokens are mapped but not exported.
    payments = next(b for b in batches if b.table == "payment_methods")
    assert "token" not in payments.columns
    assert (
        "token"
        in next(
            b
            for b in rt.collector().collect(
                session, demo, categories=["payments"], exported_only=False
            )
            if b.table == "payment_methods"
        ).columns
    )


def test_collection_of_chosen_categories(shop_seeded, rt, session):
    demo = find_by_contact(session, "phone", "13800138000")
    tables = {b.table for b in rt.collector().collect(session, demo, categories=["orders"])}
    assert tables == {"orders", "order_items"}


def test_demo_shop_is_deterministic_and_has_what_the_contract_promises(shop_seeded, session):
    with shop_seeded.connect() as conn:
        demo = conn.execute(select(shop.customers).where(shop.customers.c.id == 1)).one()
        assert (demo.email, demo.phone) == ("demo@example.com", "13800138000")
        unshipped = conn.execute(
            select(func.count())
            .select_from(shop.orders)
            .where(shop.orders.c.customer_id == 1, shop.orders.c.status == "paid")
        ).scalar()
        balance = conn.execute(
            select(shop.gift_cards.c.balance_cents).where(shop.gift_cards.c.customer_id == 1)
        ).scalar()
        oldest = conn.execute(
            select(func.min(shop.orders.c.placed_at)).where(shop.orders.c.customer_id == 1)
        ).scalar()
        first = [tuple(r) for r in conn.execute(select(shop.orders).order_by(shop.orders.c.id))]
    assert unshipped >= 1 and balance > 0
    assert oldest.replace(tzinfo=None) < (NOW - dt.timedelta(days=3 * 365)).replace(tzinfo=None)
    # Same seed, same rows: reseed into a fresh shop database.
    with shop_seeded.begin() as conn:
        conn.execute(delete(shop.seed_info))
    seed(session, shop_seeded, customers=4, browsing_per_customer=30, now=NOW)
    with shop_seeded.connect() as conn:
        again = [tuple(r) for r in conn.execute(select(shop.orders).order_by(shop.orders.c.id))]
    assert again == first
