"""The export's file formats, each written as a stream of bytes from batches of rows.

JSON (machine-readable, portable), CSV (UTF-8 with BOM so Excel shows Chinese correctly), and
HTML pages a person opens offline (no external resources). Values are converted the same way
for every format: times as ISO 8601 with offset, dates as YYYY-MM-DD.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import html
import io
import json
from collections.abc import Iterable, Iterator

BOM = "\ufeff"


PASS_THROUGH = frozenset({str, int, float, bool, type(None)})
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def plain(value):
    """A JSON- and CSV-friendly value (naive times from a source are taken as UTC)."""
    if type(value) is dt.datetime:
        # Same text as replace(tzinfo=UTC).isoformat(), without building a new datetime.
        return value.isoformat() + "+00:00" if value.tzinfo is None else value.isoformat()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return None  # binary columns are not personal data we can show meaningfully
    return value


def plain_rows(rows: list) -> Iterator[tuple]:
    """A batch of rows made plain column by column: columns of plain types pass untouched."""
    if not rows:
        return iter(())
    columns = list(zip(*rows, strict=True))
    converted = [
        column if set(map(type, column)) <= PASS_THROUGH else list(map(plain, column))
        for column in columns
    ]
    return zip(*converted, strict=True)


def json_document(head: dict, records: Iterable[dict], batch: int = 2000) -> Iterator[bytes]:
    """``{...head, "records": [...]}``, records joined ``batch`` at a time (fewer ZIP chunks)."""
    opening = json.dumps(head, ensure_ascii=False, indent=1)[:-2]  # drop the closing "\n}"
    yield (opening + ',\n "records": [\n').encode()
    pending: list[str] = []
    first = True
    for record in records:
        pending.append(_encode(record))
        if len(pending) >= batch:
            yield (("  " if first else ",\n  ") + ",\n  ".join(pending)).encode()
            pending.clear()
            first = False
    if pending:
        yield (("  " if first else ",\n  ") + ",\n  ".join(pending)).encode()
    yield b"\n ]\n}\n"


def csv_document(header: list[str], rows: Iterable[list], batch: int = 2000) -> Iterator[bytes]:
    """CSV with a BOM and a header row, flushed every ``batch`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow(row)
        if count % batch == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


STYLE = """
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;color:#1b1b1b}
header{background:#0b4f6c;color:#fff;padding:1rem 1.25rem}header h1{margin:0;font-size:1.25rem}
header p{margin:.25rem 0 0;font-size:.9rem}main{padding:1rem 1.25rem}
nav a,a{color:#0b4f6c}table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border:1px solid #ccd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef3f6}th small{display:block;font-weight:normal;color:#555}
tbody tr:nth-child(even){background:#f8fafb}.pager{margin:1rem 0;display:flex;gap:1rem}
.note{color:#444;font-size:.9rem}.wrap{overflow-x:auto}
ul.cats{list-style:none;padding:0}ul.cats li{margin:.4rem 0}
"""


def page(title: str, subtitle: str, body: str, lang: str = "zh-CN") -> bytes:
    """A complete, self-contained HTML page."""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<main>{body}</main></body></html>"
    ).encode()


def html_table(header: list[tuple[str, str]], rows: Iterable[list]) -> str:
    """A table whose header cells carry the Chinese label with the English one below."""
    head = "".join(
        f"<th>{html.escape(zh)}<small>{html.escape(en)}</small></th>" for zh, en in header
    )
    cells = (
        "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) for row in rows
    )
    body = "".join(f"<tr>{c}</tr>" for c in cells)
    return (
        f'<div class="wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
