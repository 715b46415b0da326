"""Deterministic, realistic demo-shop data: addresses, 3+ years of orders, browsing.

The same ``seed`` and ``now`` always give the same rows. The customers come from ``people.py``;
``bulk.py`` writes the rows in batches (COPY on PostgreSQL for the big browsing table).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Iterator

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from privacy_service.demo import shop_schema as shop
from privacy_service.demo.bulk import BatchWriter, reset_sequences, write_browsing
from privacy_service.demo.people import GIVEN, SURNAMES, Customer

PLACES = [
    ("北京市", "北京市", ["朝阳区", "海淀区", "东城区", "西城区"], "100"),
    ("上海市", "上海市", ["浦东新区", "徐汇区", "长宁区", "静安区"], "200"),
    ("广东省", "广州市", ["天河区", "越秀区", "海珠区"], "510"),
    ("广东省", "深圳市", ["南山区", "福田区", "宝安区"], "518"),
    ("浙江省", "杭州市", ["西湖区", "拱墅区", "滨江区"], "310"),
    ("四川省", "成都市", ["武侯区", "锦江区", "高新区"], "610"),
    ("江苏省", "南京市", ["鼓楼区", "玄武区", "建邺区"], "210"),
]
STREETS = ["建国路", "中山路", "人民路", "解放路", "和平街", "长江路", "滨河大道", "科技园路"]
PRODUCTS = [
    ("SKU-MILK-01", "澳洲进口婴幼儿奶粉 3段 900g", 26800, True),
    ("SKU-SERUM-02", "日本进口精华液 50ml", 45900, True),
    ("SKU-VITC-03", "美国进口维生素C咀嚼片", 12900, True),
    ("SKU-WINE-04", "法国波尔多红葡萄酒 750ml", 19800, True),
    ("SKU-TEA-05", "云南普洱茶饼 357g", 8800, False),
    ("SKU-RICE-06", "东北五常大米 5kg", 6900, False),
    ("SKU-BAG-07", "意大利真皮手提包", 189900, True),
    ("SKU-CREAM-08", "韩国进口面霜 50ml", 32900, True),
    ("SKU-SOCK-09", "纯棉袜子 五双装", 3900, False),
    ("SKU-NUTS-10", "每日坚果礼盒 750g", 12800, False),
]
SEARCHES = ["奶粉", "面霜 保湿", "维生素", "红酒 礼盒", "普洱", "大米 五常", "手提包 真皮", "袜子"]


@dataclasses.dataclass
class SeedResult:
    """What the seed wrote: rows per table."""

    customers: list[Customer]
    rows: dict[str, int]


def seed_shop(
    engine: Engine,
    customers: list[Customer],
    *,
    rng: random.Random,
    now: dt.datetime,
    orders_per_customer: int = 12,
    browsing_per_customer: int = 200,
    progress: Callable[[int], None] | None = None,
    id_start: dict[str, int] | None = None,
) -> dict[str, int]:
    """Write the shop's rows for ``customers``; returns row counts per table.

    ``id_start`` gives each table's highest id already present (growing a seeded shop).
    """
    writer = BatchWriter(engine)
    ids = {name: (id_start or {}).get(name, 0) for name in shop.metadata.tables}

    def next_id(table: Table) -> int:
        ids[table.name] += 1
        return ids[table.name]

    for customer in customers:
        _customer_rows(writer, next_id, customer, rng, now, orders_per_customer)
        if progress:
            progress(1)
    writer.flush_all()
    counts = dict(writer.counts)
    counts["browsing_events"] = write_browsing(
        engine, _browsing_rows(customers, rng, now, browsing_per_customer, ids["browsing_events"])
    )
    reset_sequences(engine)
    return counts


def _customer_rows(
    writer, next_id, c: Customer, rng: random.Random, now: dt.datetime, n_orders: int
):
    demo = c.id == 1
    created = now - dt.timedelta(days=1400 + rng.randrange(300))
    writer.add(
        shop.customers,
        {
            "id": c.id,
            "email": c.email,
            "phone": c.phone,
            "name": c.name,
            "password_set_at": created + dt.timedelta(days=rng.randrange(200)),
            "wechat_nickname": c.name[0] + "小" + c.name[-1],
            "status": "active",
            "wechat_avatar_url": f"https://img.shop.example/avatar/{c.id}.jpg",
            "created_at": created,
            "last_active_at": now - dt.timedelta(hours=rng.randrange(1, 500)),
        },
    )
    province, city, districts, postal = rng.choice(PLACES)
    address_text = ""
    for k in range(2 if demo else rng.randint(1, 3)):
        district = rng.choice(districts)
        number, building, room = rng.randint(1, 999), rng.randint(1, 30), rng.randint(101, 2805)
        street = f"{rng.choice(STREETS)}{number}号{building}栋{room}室"
        address_text = address_text or f"{province}{city}{district}{street}"
        writer.add(
            shop.addresses,
            {
                "id": next_id(shop.addresses),
                "customer_id": c.id,
                "recipient": c.name if k == 0 else rng.choice(SURNAMES) + rng.choice(GIVEN),
                "phone": c.phone,
                "province": province,
                "city": city,
                "district": district,
                "street": street,
                "postal_code": postal + f"{rng.randrange(1000):03d}",
                "is_default": k == 0,
                "created_at": created + dt.timedelta(days=k * 30),
            },
        )
    for k in range(n_orders):
        _order(writer, next_id, c, rng, now, k, n_orders, address_text, demo)
    for _ in range(rng.randint(1, 2)):
        kind = rng.choice(("card", "alipay", "wechatpay"))
        writer.add(
            shop.payment_methods,
            {
                "id": next_id(shop.payment_methods),
                "customer_id": c.id,
                "kind": kind,
                "card_last4": f"{rng.randrange(10000):04d}" if kind == "card" else None,
                "token": f"tok_{rng.getrandbits(96):024x}",
                "created_at": created,
            },
        )
    writer.add(
        shop.gift_cards,
        {
            "id": next_id(shop.gift_cards),
            "customer_id": c.id,
            "currency": "CNY",
            "balance_cents": 12_000 if demo else rng.choice((0, 0, 0, 5000, 20000)),
            "updated_at": now,
        },
    )
    writer.add(
        shop.preferences,
        {
            "id": next_id(shop.preferences),
            "customer_id": c.id,
            "updated_at": created,
            "email_notifications": rng.random() < 0.7,
            "sms_notifications": rng.random() < 0.5,
            "personalised_ads": rng.random() < 0.4,
        },
    )
    for _ in range(rng.randint(2, 6)):
        sku, name, _price, _imported = rng.choice(PRODUCTS)
        writer.add(
            shop.wishlist_items,
            {
                "id": next_id(shop.wishlist_items),
                "customer_id": c.id,
                "sku": sku,
                "product_name": name,
                "added_at": now - dt.timedelta(days=rng.randrange(700)),
            },
        )
    for _ in range(2 if demo else rng.randint(0, 3)):
        sku, name, _price, _imported = rng.choice(PRODUCTS)
        writer.add(
            shop.reviews,
            {
                "id": next_id(shop.reviews),
                "customer_id": c.id,
                "sku": sku,
                "rating": rng.randint(3, 5),
                "body": f"{name}很好，物流也快，会回购。",
                "public": True,
                "created_at": now - dt.timedelta(days=rng.randrange(900)),
            },
        )
    writer.add(
        shop.profiles,
        {
            "id": next_id(shop.profiles),
            "customer_id": c.id,
            "display_name": c.name[0] + "**",
            "bio": "喜欢跨境好物",
            "avatar_url": f"https://img.shop.example/avatar/{c.id}.jpg",
        },
    )
    _membership_rows(writer, next_id, c, now, created)
    for _ in range(1 if demo else rng.randint(0, 2)):
        writer.add(
            shop.support_tickets,
            {
                "id": next_id(shop.support_tickets),
                "customer_id": c.id,
                "channel": "chat",
                "subject": "物流查询",
                "body": "请问我的包裹什么时候清关？",
                "status": "closed",
                "created_at": now - dt.timedelta(days=rng.randrange(400)),
            },
        )
    for _ in range(rng.randint(1, 2)):
        writer.add(
            shop.devices,
            {
                "id": next_id(shop.devices),
                "customer_id": c.id,
                "device_id": f"dev-{rng.getrandbits(64):016x}",
                "platform": rng.choice(("ios", "android")),
                "ip_address": f"{rng.choice((36, 58, 101, 112, 183))}.{rng.randrange(256)}."
                f"{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "city": city,
                "last_seen_at": now - dt.timedelta(days=rng.randrange(30)),
            },
        )


def _membership_rows(writer, next_id, c: Customer, now: dt.datetime, created: dt.datetime):
    """Membership and household settings of one customer.

    They come from a generator of their own per customer, so adding them changed none of the
    rows generated before them.
    """
    rng = random.Random(f"membership-{c.id}")  # noqa: S311 - demo data, reproducible on purpose
    demo = c.id == 1
    if demo or rng.random() < 0.5:
        joined = created + dt.timedelta(days=rng.randrange(30, 400))
        paid = demo or rng.random() < 0.4
        writer.add(
            shop.memberships,
            {
                "id": next_id(shop.memberships),
                "customer_id": c.id,
                "programme": "海淘会员 Plus" if paid else "积分会员",
                "tier": "gold" if demo else rng.choice(("silver", "gold", "platinum")),
                "points": 3_280 if demo else rng.randrange(20_000),
                "annual_fee_cents": 8_800 if paid else 0,
                "auto_renew": paid,
                "joined_at": joined,
                "renews_at": now + dt.timedelta(days=rng.randrange(1, 365)) if paid else None,
            },
        )
    if demo or rng.random() < 0.2:
        owner = demo or rng.random() < 0.5
        writer.add(
            shop.household_settings,
            {
                "id": next_id(shop.household_settings),
                "customer_id": c.id,
                "household_name": f"{c.name[0]}家",
                "role": "owner" if owner else "member",
                "members": 3 if demo else rng.randint(2, 5),
                "shared_addresses": True,
                "shared_payment": owner and not demo,
                "monthly_limit_cents": 200_000 if owner else None,
                "updated_at": now - dt.timedelta(days=rng.randrange(200)),
            },
        )


def _order(writer, next_id, c, rng, now, k, n_orders, address_text, demo):
    # Spread orders over 3.5 years; the newest ones are still on their way.
    age_days = int(1270 * (n_orders - k) / n_orders) + rng.randrange(10)
    placed = now - dt.timedelta(days=age_days, hours=rng.randrange(24))
    if demo and k == n_orders - 1:
        status, age_days = "paid", 2  # the demo customer always has an unshipped order
        placed = now - dt.timedelta(days=2)
    elif age_days < 5:
        status = rng.choice(("paid", "shipped"))
    elif rng.random() < 0.05:
        status = "cancelled"
    else:
        status = "completed"
    order_id = next_id(shop.orders)
    items = [rng.choice(PRODUCTS) for _ in range(rng.randint(1, 3))]
    quantities = [rng.randint(1, 3) for _ in items]
    total = sum(
        q * price for q, (_sku, _name, price, _imported) in zip(quantities, items, strict=True)
    )
    shipped = placed + dt.timedelta(days=1) if status in ("shipped", "completed") else None
    completed = placed + dt.timedelta(days=8) if status == "completed" else None
    if status == "cancelled":
        # The transaction ended when it was cancelled: its records' legal period runs from then
        # (without it a cancelled order would be kept for ever, its address included).
        completed = placed + dt.timedelta(days=1)
    writer.add(
        shop.orders,
        {
            "id": order_id,
            "customer_id": c.id,
            "order_no": f"SO{placed:%Y%m%d}{order_id:08d}",
            "status": status,
            "total_cents": total,
            "currency": "CNY",
            "shipping_address": address_text,
            "placed_at": placed,
            "shipped_at": shipped,
            "completed_at": completed,
        },
    )
    # Items after their order: a full buffer flushes parents first, and the order is in it.
    for quantity, (sku, name, price, _imported) in zip(quantities, items, strict=True):
        writer.add(
            shop.order_items,
            {
                "id": next_id(shop.order_items),
                "order_id": order_id,
                "sku": sku,
                "product_name": name,
                "quantity": quantity,
                "unit_price_cents": price,
            },
        )
    if c.identity_document_id and any(imported for *_, imported in items) and status != "cancelled":
        writer.add(
            shop.customs_declarations,
            {
                "id": next_id(shop.customs_declarations),
                "order_id": order_id,
                "declaration_no": f"CD{placed:%Y%m%d}{order_id:08d}",
                "identity_document_id": c.identity_document_id,
                "status": "cleared" if shipped else "pending",
                "cleared_at": shipped,
            },
        )
    if status == "completed" and rng.random() < 0.08:
        writer.add(
            shop.refunds,
            {
                "id": next_id(shop.refunds),
                "order_id": order_id,
                "amount_cents": total // 2,
                "status": "completed",
                "reason": "商品破损",
                "created_at": completed,
            },
        )
        # The refund followed a return that came back (no extra draw: seeds stay as they were).
        writer.add(
            shop.returns,
            {
                "id": next_id(shop.returns),
                "order_id": order_id,
                "status": "refunded",
                "reason": "商品破损",
                "requested_at": completed - dt.timedelta(days=3),
                "updated_at": completed,
            },
        )


def _browsing_rows(customers, rng, now, per_customer, first_id: int = 0) -> Iterator[tuple]:
    # Tuples in bulk.BROWSING_COLUMNS order: a million of them cost less than dicts.
    row_id = first_id
    for c in customers:
        for _ in range(per_customer):
            row_id += 1
            kind = rng.choice(("search", "view", "view", "click"))
            sku = None if kind == "search" else rng.choice(PRODUCTS)[0]
            query = rng.choice(SEARCHES) if kind == "search" else None
            at = now - dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))
            yield (row_id, c.id, kind, query, sku, f"dev-{c.id:08x}", at)
