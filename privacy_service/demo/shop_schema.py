"""The demo shop's own database: the kind of schema a real shop has, which the data map describes.

This is not the service's schema (no Alembic here): it stands in for the shop's systems, and the
service only ever reads and changes it through ``policies/datamap.yaml``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
BIG = BigInteger().with_variant(Integer, "sqlite")


def _id() -> Column:
    return Column("id", BIG, primary_key=True, autoincrement=True)


def _customer() -> Column:
    return Column("customer_id", BIG, ForeignKey("customers.id"), nullable=False, index=True)


customers = Table(
    "customers",
    metadata,
    _id(),
    Column("email", String(254)),
    Column("phone", String(20)),
    Column("name", String(64)),
    Column("password_set_at", DateTime(timezone=True)),
    Column("wechat_nickname", String(64)),
    Column("wechat_avatar_url", String(255)),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_active_at", DateTime(timezone=True)),
)

addresses = Table(
    "addresses",
    metadata,
    _id(),
    _customer(),
    Column("recipient", String(64)),
    Column("phone", String(20)),
    Column("province", String(32)),
    Column("city", String(32)),
    Column("district", String(32)),
    Column("street", String(255)),
    Column("postal_code", String(6)),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    _id(),
    _customer(),
    Column("order_no", String(32), nullable=False, unique=True),
    # unpaid, paid (not shipped), shipped, completed, cancelled
    Column("status", String(16), nullable=False),
    Column("total_cents", BIG, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("shipping_address", Text),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("shipped_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("restricted", Boolean, nullable=False, default=False),
)

order_items = Table(
    "order_items",
    metadata,
    _id(),
    Column("order_id", BIG, ForeignKey("orders.id"), nullable=False, index=True),
    Column("sku", String(32), nullable=False),
    Column("product_name", String(128), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BIG, nullable=False),
    Column("restricted", Boolean, nullable=False, default=False),
)

customs_declarations = Table(
    "customs_declarations",
    metadata,
    _id(),
    Column("order_id", BIG, ForeignKey("orders.id"), nullable=False, index=True),
    Column("declaration_no", String(32), nullable=False),
    # The buyer's ID number is held by the privacy service's vault; the shop keeps only its id.
    Column("identity_document_id", String(36)),
    Column("status", String(16), nullable=False),
    Column("cleared_at", DateTime(timezone=True)),
    Column("restricted", Boolean, nullable=False, default=False),
)

payment_methods = Table(
    "payment_methods",
    metadata,
    _id(),
    _customer(),
    Column("kind", String(16), nullable=False),
    Column("card_last4", String(4)),
    Column("token", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

gift_cards = Table(
    "gift_cards",
    metadata,
    _id(),
    _customer(),
    Column("balance_cents", BIG, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("restricted", Boolean, nullable=False, default=False),
)

refunds = Table(
    "refunds",
    metadata,
    _id(),
    Column("order_id", BIG, ForeignKey("orders.id"), nullable=False, index=True),
    Column("amount_cents", BIG, nullable=False),
    Column("status", String(16), nullable=False),  # open, completed, rejected
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("restricted", Boolean, nullable=False, default=False),
)

# After-sales returns: requested, in transit back to the shop, received, then refunded.
returns = Table(
    "returns",
    metadata,
    _id(),
    Column("order_id", BIG, ForeignKey("orders.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # requested, in_transit, received, refunded
    Column("reason", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("restricted", Boolean, nullable=False, default=False),
)

preferences = Table(
    "preferences",
    metadata,
    _id(),
    _customer(),
    Column("email_notifications", Boolean, nullable=False),
    Column("sms_notifications", Boolean, nullable=False),
    Column("personalised_ads", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

browsing_events = Table(
    "browsing_events",
    metadata,
    _id(),
    Column("customer_id", BIG, ForeignKey("customers.id"), nullable=False),
    Column("kind", String(8), nullable=False),  # search, view, click
    Column("query", String(128)),
    Column("sku", String(32)),
    Column("device_id", String(64)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Index("ix_browsing_events_customer_id_id", "customer_id", "id"),
)

wishlist_items = Table(
    "wishlist_items",
    metadata,
    _id(),
    _customer(),
    Column("sku", String(32), nullable=False),
    Column("product_name", String(128)),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    _id(),
    _customer(),
    Column("sku", String(32), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("body", Text),
    Column("public", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

profiles = Table(
    "profiles",
    metadata,
    _id(),
    _customer(),
    Column("display_name", String(64)),
    Column("bio", Text),
    Column("avatar_url", String(255)),
)

# The membership programme a customer joined (tier, points, renewal) and the household account
# settings (family sharing): what the privacy notice lists among what a customer can see.
memberships = Table(
    "memberships",
    metadata,
    _id(),
    _customer(),
    Column("programme", String(32), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("points", Integer, nullable=False),
    Column("annual_fee_cents", BIG, nullable=False),
    Column("auto_renew", Boolean, nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    Column("renews_at", DateTime(timezone=True)),
)

household_settings = Table(
    "household_settings",
    metadata,
    _id(),
    _customer(),
    Column("household_name", String(64)),
    Column("role", String(16), nullable=False),  # owner, member
    Column("members", Integer, nullable=False),
    Column("shared_addresses", Boolean, nullable=False),
    Column("shared_payment", Boolean, nullable=False),
    Column("monthly_limit_cents", BIG),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

support_tickets = Table(
    "support_tickets",
    metadata,
    _id(),
    _customer(),
    Column("channel", String(16), nullable=False),
    Column("subject", String(128)),
    Column("body", Text),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

devices = Table(
    "devices",
    metadata,
    _id(),
    _customer(),
    Column("device_id", String(64), nullable=False),
    Column("platform", String(16)),
    Column("ip_address", String(45)),
    Column("city", String(32)),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

# Written last by a seed: its presence means the seed completed.
seed_info = Table(
    "seed_info",
    metadata,
    Column("seed", Integer, primary_key=True),
    Column("customers", Integer, nullable=False),
    Column("seeded_at", DateTime(timezone=True), nullable=False),
)
