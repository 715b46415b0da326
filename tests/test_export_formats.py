"""Snapshots of how the export writes values: the exact JSON, CSV and HTML for a small plan
(times in the request's zone, money as yuan, booleans as words, parent keys, CSV formulas
neutralised), the progress callback, and the data map's validation of the new keys."""

import dataclasses
import datetime as dt
import decimal
import io
import json
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exports.assemble import CategoryPlan, build
from exports.values import Money, Style, TableCodec
from privacy_service.config import DEMO_POLICIES
from privacy_service.policies import PolicyError, load_policies

BUILT = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
UTC = dt.UTC


@dataclasses.dataclass
class Batch:
    table: str
    columns: tuple
    rows: list


ORDERS = [
    (1, "SO1", 39600, "CNY", dt.datetime(2023, 6, 2, 20, tzinfo=UTC), True, "=HYPERLINK(1)"),
    (2, "SO2", -1250, "", dt.datetime(2023, 6, 2, 20, 0, 5), False, "+86 138 0013 8000"),
]
ITEMS = [(7, "SO1", 3, 13200, None), (8, "SO2", -1, 5, "@x")]
LABELS = {
    c: {"zh-CN": f"{c}中", "en": f"{c} en"}
    for c in ("id", "order_no", "total", "currency", "placed_at", "paid", "note", "qty", "price")
}


def _plan() -> CategoryPlan:
    return CategoryPlan(
        code="orders",
        name={"zh-CN": "订单", "en": "Orders"},
        description={"zh-CN": "订单", "en": "Orders"},
        tables={
            "orders": ("id", "order_no", "total", "currency", "placed_at", "paid", "note"),
            "items": ("id", "order_no", "qty", "price", "note"),
        },
        labels=LABELS,
        types={"total": "money", "price": "money", "placed_at": "datetime"},
        money={
            "orders": {"total": Money(currency="CNY", currency_field="currency")},
            "items": {"price": Money(currency="USD")},
        },
    )


def _collect(category):
    assert category == "orders"
    yield Batch(
        "orders", ("id", "order_no", "total", "currency", "placed_at", "paid", "note"), ORDERS
    )
    yield Batch("items", ("id", "order_no", "qty", "price", "note"), ITEMS)


def _archive(language="zh-CN", progress=None) -> zipfile.ZipFile:
    chunks, _manifest = build(
        [_plan()],
        _collect,
        request_id="r1",
        subject="s1",
        built_at=BUILT,
        style=Style(timezone="Asia/Shanghai", language=language),
        progress=progress,
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    return archive


def test_csv_snapshot_in_chinese():
    text = _archive().read("orders/orders.csv").decode("utf-8-sig")
    assert text.split("\r\n") == [
        "record_type,id,order_no,total,currency,placed_at,paid,note,qty,price",
        "orders,1,SO1,396.00 CNY,CNY,2023-06-03T04:00:00+08:00,是,'=HYPERLINK(1),,",
        "orders,2,SO2,\u221212.50 CNY,,2023-06-03T04:00:05+08:00,否,'+86 138 0013 8000,,",
        "items,7,SO1,,,,,,3,132.00 USD",
        "items,8,SO2,,,,,'@x,-1,0.05 USD",
        "",
    ]


def test_csv_booleans_follow_the_request_language():
    lines = _archive("en").read("orders/orders.csv").decode("utf-8-sig").split("\r\n")
    assert lines[1].split(",")[6] == "yes" and lines[2].split(",")[6] == "no"


def test_json_snapshot_keeps_machine_values_and_shows_times_in_the_zone():
    doc = json.loads(_archive().read("orders/orders.json"))
    assert doc["time_zone"] == "Asia/Shanghai"
    assert doc["money"]["total"]["currency"] == "currency"
    assert doc["money"]["price"]["currency"] == "USD" and "1/100" in doc["money"]["price"]["en"]
    assert doc["records"] == [
        {
            "record_type": "orders",
            "id": 1,
            "order_no": "SO1",
            "total": 39600,
            "currency": "CNY",
            "placed_at": "2023-06-03T04:00:00+08:00",
            "paid": True,
            "note": "=HYPERLINK(1)",
        },
        {
            "record_type": "orders",
            "id": 2,
            "order_no": "SO2",
            "total": -1250,
            "currency": "",
            "placed_at": "2023-06-03T04:00:05+08:00",
            "paid": False,
            "note": "+86 138 0013 8000",
        },
        {
            "record_type": "items",
            "id": 7,
            "order_no": "SO1",
            "qty": 3,
            "price": 13200,
            "note": None,
        },
        {"record_type": "items", "id": 8, "order_no": "SO2", "qty": -1, "price": 5, "note": "@x"},
    ]


def test_html_snapshot_is_bilingual_with_yuan_and_zone_times():
    page = _archive().read("html/orders-1.html").decode()
    row = (
        "<tr><td>orders</td><td>1</td><td>SO1</td><td>396.00 CNY</td><td>CNY</td>"
        "<td>2023-06-03T04:00:00+08:00</td><td>是 / yes</td><td>=HYPERLINK(1)</td>"
        "<td></td><td></td></tr>"
    )
    assert row in page
    assert "<td>\u221212.50 CNY</td>" in page and "<td>132.00 USD</td>" in page
    assert "<th>order_no中<small>order_no en</small></th>" in page


def test_manifest_and_readme_name_the_zone_and_units():
    archive = _archive()
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["time_zone"] == "Asia/Shanghai"
    assert {f["path"] for f in manifest["files"]} == set(archive.namelist()) - {"manifest.json"}
    readme = archive.read("README.md").decode()
    assert "`396.00 CNY`" in readme and "+08:00" in readme and "是/否" in readme
    assert "| `total` | total中 | total en | money, JSON: minor units (1/100 of" in readme


def test_progress_is_called_per_category():
    calls = []
    _archive(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 1), (1, 1)]


@pytest.mark.parametrize(
    ("money", "amount", "currency", "text"),
    [
        (Money(), 39600, None, "396.00 CNY"),
        (Money(), 0, None, "0.00 CNY"),
        (Money(), -5, None, "\u22120.05 CNY"),
        (Money(decimals=0), 1200, "JPY", "1200 JPY"),
        (Money(amount_in="major"), decimal.Decimal("396.5"), None, "396.50 CNY"),
        (Money(amount_in="major"), -3.1, "USD", "\u22123.10 USD"),
        (Money(), decimal.Decimal("39600"), None, "396.00 CNY"),
        (Money(), None, None, None),
    ],
)
def test_money_text(money, amount, currency, text):
    assert money.text(amount, currency) == text


def test_naive_times_are_utc_and_dates_stay_dates():
    codec = TableCodec(("at", "day"), {}, Style(timezone="Asia/Shanghai"))
    rows = list(codec.json_rows([(dt.datetime(2024, 12, 31, 20), dt.date(2024, 1, 2))]))
    assert rows == [("2025-01-01T04:00:00+08:00", "2024-01-02")]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Brussels", "UTC"])
def test_bulk_time_text_equals_isoformat_with_gaps_and_fractions(zone):
    values = [
        dt.datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC),  # the night Brussels moves to summer time
        None,
        dt.datetime(2024, 3, 31, 1, 0, 0, 123456, tzinfo=UTC),
        dt.datetime(2024, 10, 27, 1, 30),  # naive: taken as UTC
        None,
    ]
    codec = TableCodec(("at",), {}, Style(timezone=zone))
    got = [row[0] for row in codec.json_rows([(v,) for v in values])]
    want = [
        None
        if v is None
        else (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(ZoneInfo(zone)).isoformat()
        for v in values
    ]
    assert got == want


def _policies_with(tmp_path: Path, old: str, new: str, file: str = "datamap.yaml") -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    for path in DEMO_POLICIES.rglob("*"):
        target = folder / path.relative_to(DEMO_POLICIES)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(path.read_bytes())
    edited = folder / file
    text = edited.read_text()
    assert old in text
    edited.write_text(text.replace(old, new, 1))
    return folder


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("human_key: order_no", "human_key: order_number", "human_key: Not a field"),
        (
            "sku: {category: orders, type: text}",
            "order_no: {category: orders, type: text}",
            "Clashes with the human key of orders",
        ),
        (
            "total_cents: {category: orders, type: money, currency_field: currency}",
            "total_cents: {category: orders, type: money, currency_field: placed}",
            "currency_field: Must be a field of this table",
        ),
        (
            "quantity: {category: orders, type: integer}",
            "quantity: {category: orders, type: integer, currency: CNY}",
            "Only money fields take currency",
        ),
        (
            "unit_price_cents: {category: orders, type: money}",
            "unit_price_cents: {category: orders, type: money, currency: yuan}",
            "An ISO 4217 code",
        ),
    ],
)
def test_datamap_money_and_key_errors_name_file_and_line(tmp_path, old, new, message):
    folder = _policies_with(tmp_path, old, new)
    with pytest.raises(PolicyError) as caught:
        load_policies(folder)
    text = str(caught.value)
    assert message in text and "datamap.yaml:" in text, text
    line = int(text.split("datamap.yaml:")[1].split(":")[0])
    wanted = (folder / "datamap.yaml").read_text().splitlines()[line - 1]
    assert new.split(":")[0].strip() in wanted or "human_key" in wanted or "fields" in wanted


def test_recipients_load_with_cross_border_transfers_flagged():
    recipients = {r.code: r for r in load_policies(DEMO_POLICIES).recipients}
    assert {
        "sellers",
        "carriers",
        "payment_providers",
        "customs_brokers",
        "marketing_email",
    } <= set(recipients)
    assert recipients["marketing_email"].cross_border and not recipients["carriers"].cross_border
    assert "identity_documents" in recipients["customs_brokers"].categories


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("categories: [addresses, orders]", "categories: [addresses, parcels]", "Unknown category"),
        ("kind: carrier", "kind: courier", "kind: Must be one of"),
        ("{code: SG,", "{code: sg,", "ISO 3166"),
        ("    contact: 95338 / sf-express.com\n", "", "contact: Missing data"),
    ],
)
def test_recipients_errors_name_file_and_line(tmp_path, old, new, message):
    folder = _policies_with(tmp_path, old, new, file="recipients.yaml")
    with pytest.raises(PolicyError) as caught:
        load_policies(folder)
    text = str(caught.value)
    assert message in text and "recipients.yaml:" in text, text
    line = int(text.split("recipients.yaml:")[1].split(":")[0])
    assert line > 8  # the recipient's own lines, not the top of the file


class Boom(Exception):
    pass


def test_an_error_while_reading_reaches_the_caller_with_its_type_and_threads_end():
    import threading

    def collect(category):
        yield from _collect(category)
        raise Boom("source went away")

    chunks, _ = build([_plan()], collect, request_id="r", subject="s", built_at=BUILT)
    with pytest.raises(Boom):
        b"".join(chunks)
    assert not [t for t in threading.enumerate() if t.name.startswith("export-")]


def test_a_consumer_that_stops_early_stops_both_threads():
    import threading

    def collect(category):
        for i in range(1000):
            yield Batch("items", ("id", "order_no", "qty", "price", "note"), [(i, "SO", 1, 1, "x")])

    chunks, _ = build([_plan()], collect, request_id="r", subject="s", built_at=BUILT)
    next(chunks)
    chunks.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("export-")]


def test_a_large_csv_spills_to_a_sealed_temporary_file(monkeypatch):
    import os

    from exports import pipeline

    monkeypatch.setattr(pipeline, "SPOOL_MEMORY", 4096)
    on_disk = []
    real_chunks = pipeline.Spool.chunks

    def chunks(self):
        if self.file is not None:  # everything is written: look at what reached the disk
            self.sealed.close()
            self.file.flush()
            on_disk.append(os.pread(self.file.fileno(), 1 << 26, 0))
        yield from real_chunks(self)

    monkeypatch.setattr(pipeline.Spool, "chunks", chunks)
    secret = "13912345678-张伟-秘密"
    rows = [(i, "SO1", 1, 100, f"{secret}-{i}") for i in range(3000)]

    def collect(category):
        yield Batch("items", ("id", "order_no", "qty", "price", "note"), rows)

    chunks_out, manifest = build(
        [_plan()], collect, request_id="r", subject="s", built_at=BUILT, style=Style()
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks_out)))
    text = archive.read("orders/orders.csv").decode("utf-8-sig")
    assert text.count(secret) == 3000 and f"{secret}-2999" in text
    assert len(on_disk) == 1 and len(on_disk[0]) > 100_000, "the CSV went to a temporary file"
    assert secret.encode() not in on_disk[0] and b"13912345678" not in on_disk[0]
    assert manifest.counts["orders"]["items"] == 3000
