"""The CSV's deflate stream, made as the CSV is spooled, gives the archive the plain way gives,
byte for byte; a replay whose bytes differ from those deflated fails instead of writing them."""

import dataclasses
import datetime as dt
import io
import zipfile

import pytest

from exports import assemble, pipeline
from exports.assemble import CategoryPlan, build
from exports.values import Money, Style

COLUMNS = ("id", "order_no", "qty", "price", "note")


@dataclasses.dataclass
class Batch:
    table: str
    columns: tuple
    rows: list


def _plan(code: str) -> CategoryPlan:
    return CategoryPlan(
        code=code,
        name={"zh-CN": "订单", "en": "Orders"},
        description={"zh-CN": "订单", "en": "Orders"},
        tables={"items": COLUMNS},
        labels={c: {"zh-CN": f"{c}中", "en": c} for c in COLUMNS},
        types={"price": "money"},
        money={"items": {"price": Money(currency="USD")}},
    )


def _archive() -> bytes:
    notes = ['张伟,"x"', None, "=1+1", "北京 市\n二号", ""]

    def collect(category):
        for b in range(6):
            rows = [
                (b * 1000 + i, f"SO{i % 97}", i % 7 - 3, i * 131, notes[i % 5]) for i in range(1000)
            ]
            yield Batch("items", COLUMNS, rows)

    chunks, _ = build(
        [_plan("orders"), _plan("again")],
        collect,
        request_id="r",
        subject="s",
        built_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        style=Style(),
    )
    return b"".join(chunks)


def test_csv_deflated_while_spooled_equals_deflating_it_afterwards(monkeypatch):
    monkeypatch.setattr(pipeline, "SPOOL_MEMORY", 20_000)  # the CSV spills to the sealed file
    replayed = _archive()
    monkeypatch.setattr(pipeline.CsvSink, "replay", lambda self: assemble.compressobj())
    plain = _archive()
    assert replayed == plain
    archive = zipfile.ZipFile(io.BytesIO(replayed))
    assert archive.testzip() is None
    text = archive.read("orders/orders.csv").decode("utf-8-sig")
    assert text.count('"张伟,""x"""') == 1200 and "'=1+1" in text


def test_a_replay_fed_other_bytes_than_were_deflated_fails():
    sink = pipeline.CsvSink(assemble.compressobj)
    sink.write(b"record_type,id\r\n")
    sink.write(b"items,1\r\n")
    sink.finish()
    replay = sink.replay()
    replay.compress(b"record_type,id\r\nitems,2\r\n")
    with pytest.raises(RuntimeError):
        replay.flush()
    sink.close()
