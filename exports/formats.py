"""The export's file formats, each written as a stream of bytes from batches of rows.

JSON (machine-readable, portable), CSV (UTF-8 with BOM so Excel shows Chinese correctly), and
HTML pages a person opens offline (no external resources). Values arrive converted for each
format by ``exports.values``.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
import re
from collections.abc import Iterable

import orjson

BOM = "\ufeff"
RECORD_SEPARATOR = b",\n  "
CSV_LINE_END = "\r\n"
# What makes csv.writer (QUOTE_MINIMAL, "," and '"', line end "\r\n") quote a cell.
_CSV_SPECIAL = re.compile(r'[,"\r\n]')
_STR, _INT, _NONE = str, int, type(None)


class JsonMember:
    """``{...head, "records": [...]}``, written batch by batch, one line per batch.

    A batch of records is encoded in one orjson call (about five times faster than a call per
    record); values arrive converted (``TableCodec.convert``), so only JSON types reach it.
    """

    def __init__(self, head: dict):
        self.head = head
        self.first = True

    def opening(self) -> bytes:
        """The head and the start of the records array."""
        text = json.dumps(self.head, ensure_ascii=False, indent=1)[:-2]  # drop the closing "\n}"
        return (text + ',\n "records": [\n').encode()

    def batch(self, table: str, columns: tuple[str, ...], cols: list, n: int) -> bytes:
        """The records of one converted batch (column-wise values), comma-joined."""
        if not n:
            return b""
        keys = ("record_type", *columns)
        rows = zip(itertools.repeat(table, n), *cols, strict=True)
        # One dict per record, built without a Python-level loop (map over C callables).
        records = list(map(dict, map(zip, itertools.repeat(keys), rows)))
        try:
            body = orjson.dumps(records)[1:-1]
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the slow, exact way
            body = json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode()[1:-1]
        lead = b"  " if self.first else RECORD_SEPARATOR
        self.first = False
        return lead + body

    @staticmethod
    def closing() -> bytes:
        """The end of the array and the document."""
        return b"\n ]\n}\n"


class CsvMember:
    """A CSV table with a BOM and a header row; each table's rows fill their own columns."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.index = {c: i for i, c in enumerate(columns)}
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def _take(self) -> bytes:
        out = self.buffer.getvalue().encode()
        self.buffer.seek(0)
        self.buffer.truncate()
        return out

    def opening(self) -> bytes:
        """BOM and header."""
        self.buffer.write(BOM)
        self.writer.writerow(["record_type", *self.columns])
        return self._take()

    def batch(self, table: str, columns: tuple[str, ...], cols: list, n: int) -> bytes:
        """The rows of one converted batch; columns of other tables stay empty.

        Cells are made column by column and each line joined in C (about twice as fast as
        ``csv.writer``, byte for byte the same; ``tests/test_export_values.py`` compares them);
        a column holding anything but text, integers and None goes through ``csv.writer``.
        """
        if not n:
            return b""
        at = {c: i for i, c in enumerate(columns)}
        cells = [_csv_cells(cols[at[c]]) if c in at else "" for c in self.columns]
        record_type = _csv_cells([table])
        if record_type is None or record_type == [""] or any(c is None for c in cells):
            return self.writer_batch(table, columns, cols, n)
        # A repeat() is an iterator, so each empty column has its own.
        lined = [itertools.repeat(c, n) if type(c) is str else c for c in cells]
        rows = zip(itertools.repeat(record_type[0], n), *lined, strict=True)
        return (CSV_LINE_END.join(map(",".join, rows)) + CSV_LINE_END).encode()

    def writer_batch(self, table: str, columns: tuple[str, ...], cols: list, n: int) -> bytes:
        """``batch`` through ``csv.writer``: any value, at about half the speed."""
        if not n:
            return b""
        at = {c: i for i, c in enumerate(columns)}
        # zip() builds each row in C; a repeat() is an iterator, so each empty column has its own.
        lined = [cols[at[c]] if c in at else itertools.repeat("", n) for c in self.columns]
        self.writer.writerows(zip(itertools.repeat(table, n), *lined, strict=True))
        return self._take()


def _csv_cells(col: list) -> list[str] | None:
    """A column's cells as ``csv.writer`` writes them, or None for types it leaves to it.

    None is an empty cell, an integer its digits, text itself unless it holds a comma, a quote
    or a line break: then it is quoted, quotes doubled (QUOTE_MINIMAL).
    """
    types = set(map(type, col))
    if types <= {_STR}:
        texts = col
    elif types <= {_STR, _NONE}:
        texts = ["" if v is None else v for v in col]
    elif types <= {_INT, _NONE}:  # digits and "-": never quoted
        return ["" if v is None else str(v) for v in col] if _NONE in types else [*map(str, col)]
    else:
        return None
    if not _CSV_SPECIAL.search("".join(texts)):
        return texts
    return [
        '"' + t.replace('"', '""') + '"' if _CSV_SPECIAL.search(t) is not None else t for t in texts
    ]


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
