"""The export's fast paths write exactly what the plain ways wrote: columns converted in bulk
equal a value-by-value conversion, and CSV lines joined in C equal ``csv.writer``'s, across the
values a source can hold (dates, times with and without zone, decimals, bytes, None, Chinese
text, JSON, booleans, big integers, formula-like text, commas, quotes and line breaks)."""

import datetime as dt
import decimal
import json
import random
import time
import uuid
from zoneinfo import ZoneInfo

import orjson
import pytest

from exports.formats import CsvMember, JsonMember
from exports.values import Money, Style, TableCodec

UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")
COLUMNS = ("id", "name", "note", "at", "day", "amount", "blob", "doc", "flag", "ratio", "ref")
ROWS = [
    (
        1,
        "张伟",
        '北京市"朝阳区", 二号\n三层',
        dt.datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC),
        dt.date(2024, 1, 2),
        decimal.Decimal("12.30"),
        b"\x00\x01",
        {"a": [1, "二"], "b": None},
        True,
        1.5,
        uuid.UUID(int=7),
    ),
    (
        2**70,
        "=SUM(A1)",
        "-5",
        dt.datetime(2024, 10, 27, 1, 30),
        None,
        decimal.Decimal("-0.5"),
        memoryview(b"x"),
        [1, 2],
        False,
        1e16,
        None,
    ),
    (
        -3,
        None,
        "\r\nleading break",
        None,
        dt.date(1999, 12, 31),
        None,
        None,
        None,
        None,
        None,
        uuid.UUID(int=8),
    ),
    (
        4,
        "+86 138 0013 8000",
        "@x,\ty\x00z",
        dt.datetime(2023, 6, 2, 20, 0, 5, 123456, tzinfo=SHANGHAI),
        dt.date(2024, 2, 29),
        decimal.Decimal("1E+2"),
        b"",
        "",
        True,
        -0.0,
        uuid.UUID(int=9),
    ),
]


def _columns(rows):
    return [list(col) for col in zip(*rows, strict=True)]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Brussels", "UTC"])
def test_bulk_conversion_equals_value_by_value(zone):
    codec = TableCodec(COLUMNS, {}, Style(timezone=zone))
    converted = codec.convert(ROWS)
    expected = _columns([[codec.plain(v) for v in row] for row in ROWS])
    assert converted.json == expected
    if zone == "Asia/Shanghai":
        assert converted.json[3] == [
            "2024-03-31T08:59:59+08:00",
            "2024-10-27T09:30:00+08:00",  # naive: taken as UTC
            None,
            "2023-06-02T20:00:05.123456+08:00",
        ]
        assert converted.json[5] == ["12.30", "-0.5", None, "1E+2"]
        assert converted.json[6] == [None, None, None, None]  # bytes are not shown


@pytest.fixture
def local_zone_not_utc(monkeypatch):
    """The machine's local zone made Tokyo: a naive time taken as local would read 9 h off."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("count", [1, 2, 3, 700, 3000])
def test_aware_naive_and_missing_times_in_bulk_equal_isoformat(count, local_zone_not_utc):
    rng = random.Random(count)
    start = dt.datetime(2020, 1, 1, tzinfo=UTC)
    values = []
    for _ in range(count):
        at = start + dt.timedelta(
            seconds=rng.randrange(6 * 365 * 86400), microseconds=rng.randrange(2)
        )
        values.append(rng.choice([at, at.replace(tzinfo=None), None, at.astimezone(SHANGHAI)]))
    for rows in ([(v,) for v in values], [(v,) for v in values if v is not None and v.tzinfo]):
        codec = TableCodec(("at",), {}, Style(timezone="Europe/Brussels"))
        got = codec.convert(rows).json[0] if rows else []
        brussels = ZoneInfo("Europe/Brussels")
        want = [
            None
            if v is None
            else (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(brussels).isoformat()
            for (v,) in rows
        ]
        assert got == want


def test_rows_of_the_wrong_width_are_refused():
    codec = TableCodec(("id", "name"), {}, Style())
    with pytest.raises(ValueError):
        codec.convert([(1, "a", "extra")])


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_csv_lines_equal_csv_writer_for_every_kind_of_value(language):
    money = {"id": Money(currency="CNY")}
    codec = TableCodec(COLUMNS, money, Style(timezone="Asia/Shanghai", language=language))
    converted = codec.convert(ROWS)
    columns = ["extra", *COLUMNS]  # a column of another table stays empty
    fast = CsvMember(columns).batch("t", COLUMNS, converted.csv, converted.n)
    plain = CsvMember(columns).writer_batch("t", COLUMNS, converted.csv, converted.n)
    assert fast == plain
    text = fast.decode()
    assert '"北京市""朝阳区"", 二号\n三层"' in text and "'=SUM(A1)" in text


def test_csv_lines_equal_csv_writer_for_columns_of_text_integers_and_none():
    # The fast path's own cases, column by column: text that needs quoting or not, None,
    # integers; and a table name that needs quoting.
    symbols = ["a", ",", '"', "\r", "\n", "\x00", " ", "\t", "中", "'", "=", "\\", "\u2028", "😀"]
    rng = random.Random(15)

    def text():
        return "".join(rng.choice(symbols) for _ in range(rng.randint(0, 5)))

    makers = {
        "text": text,
        "text or none": lambda: rng.choice([None, text()]),
        "integer": lambda: rng.randint(-(10**20), 10**20),
        "integer or none": lambda: rng.choice([None, rng.randint(-5, 5)]),
        "anything": lambda: rng.choice([None, 1.5, True, text(), 3, decimal.Decimal("2.5")]),
    }
    for _ in range(400):
        n, width = rng.randint(1, 6), rng.randint(1, 4)
        kinds = [rng.choice(list(makers)) for _ in range(width)]
        cols = [[makers[k]() for _ in range(n)] for k in kinds]
        names = tuple(f"c{i}" for i in range(width))
        table = rng.choice(["t", "a,b", 'q"'])
        fast = CsvMember([*names, "other"]).batch(table, names, cols, n)
        plain = CsvMember([*names, "other"]).writer_batch(table, names, cols, n)
        assert fast == plain, (kinds, cols)


def test_json_records_equal_a_record_by_record_encoding():
    codec = TableCodec(COLUMNS, {}, Style(timezone="Asia/Shanghai"))
    rows = [row for row in ROWS if row[0] < 2**63]  # orjson's path (a bigger integer falls back)
    converted = codec.convert(rows)
    body = JsonMember({}).batch("t", COLUMNS, converted.json, converted.n)
    records = [
        {"record_type": "t", **dict(zip(COLUMNS, values, strict=True))}
        for values in zip(*converted.json, strict=True)
    ]
    assert body == b"  " + orjson.dumps(records)[1:-1]
    # A bigger integer than orjson takes: the stdlib's encoder (which knows no UUID), same values.
    plain = TableCodec(COLUMNS[:-1], {}, Style(timezone="Asia/Shanghai"))
    big = plain.convert([row[:-1] for row in ROWS])
    doc = json.loads(b"[" + JsonMember({}).batch("t", plain.columns, big.json, big.n) + b"]")
    assert doc[1]["id"] == 2**70 and doc[0]["doc"] == {"a": [1, "二"], "b": None}


def test_many_batches_keep_their_order_and_blank_other_tables_columns():
    member = CsvMember(["id", "name", "qty"])
    parts = [
        member.batch(table, cols, [list(c) for c in zip(*rows, strict=True)], len(rows))
        for table, cols, rows in (
            ("orders", ("id", "name"), [(1, "张"), (2, None)]),
            ("items", ("id", "qty"), [(3, 5)]),
        )
    ]
    assert b"".join(parts).decode().split("\r\n") == [
        "orders,1,张,",
        "orders,2,,",
        "items,3,,5",
        "",
    ]
