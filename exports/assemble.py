"""Assembling one export ZIP as a stream, at constant memory.

Layout (``contract.md``)::

    <category>/<category>.json   every record of the category, machine-readable
    <category>/<category>.csv    the same as a table (UTF-8 with BOM)
    html/<category>-<n>.html     pages a person reads offline (the first HTML_MAX_ROWS records)
    recipients/recipients.json   who receives which of the categories in this archive (and .csv)
    index.html                   start here: categories, counts, links, recipients
    README.md                    what each file and field holds, in Chinese and English
    manifest.json                SHA-256 and size of every other file; request, subject, time

Each category is read from the sources once, on a producer thread, and written three ways
(``exports.pipeline``): nothing is held in memory but a few batches of rows, the first
megabytes of the CSV spool and of its deflate stream and, for HTML, at most HTML_MAX_ROWS rows
of one category. How values are written (time zone, money, booleans, parent keys) is
``exports.values``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from stream_zip import ZIP_64, Method, stream_zip

from exports.documents import (
    HTML_PAGE_ROWS,
    html_category_page,
    index_html,
    readme_md,
)
from exports.pipeline import CategoryDone, CsvPart, CsvSink, Producer
from exports.recipients import recipients_csv, recipients_in, recipients_json
from exports.values import Money, Style, TableCodec

FORMAT_VERSION = 2
# Deflate level, measured on the 1,000,000-row benchmark (`python -m bench.export`): see README.
COMPRESSION_LEVEL = 3
ZIP_CHUNK = 1 << 20
# Rows per batch read from a source: large enough that per-batch work (a FETCH round trip, one
# orjson call, one writerows) is amortised, small enough to keep memory flat (~10 MB a batch).
BATCH_ROWS = 10_000  # stream-zip's output chunks: fewer, larger calls into zlib and AES-GCM
Progress = Callable[[int, int], None]  # (categories done, categories in all)


@dataclasses.dataclass(frozen=True)
class CategoryPlan:
    """One category's tables and fields, with their names in both languages."""

    code: str
    name: dict[str, str]
    description: dict[str, str]
    tables: dict[str, tuple[str, ...]]  # table -> field names (the primary key "id" comes first)
    labels: dict[str, dict[str, str]]
    types: dict[str, str]
    money: dict[str, dict[str, Money]] = dataclasses.field(default_factory=dict)  # table -> column

    @property
    def columns(self) -> list[str]:
        """Union of the tables' fields, in order: the CSV header after record_type."""
        return list(dict.fromkeys(c for cols in self.tables.values() for c in cols))


Collect = Callable[[str], Iterable]  # category -> batches with .table, .columns, .rows


@dataclasses.dataclass
class Manifest:
    """What was written: per file hash and size, per category and table counts."""

    request_id: str
    subject: str
    built_at: dt.datetime
    timezone: str = "UTC"
    files: list[dict] = dataclasses.field(default_factory=list)
    counts: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    # The shop accounts the request covers: [{"source", "key"}] (one person may have several).
    accounts: list[dict] = dataclasses.field(default_factory=list)

    def built_local(self) -> dt.datetime:
        """When the archive was built, in the archive's time zone."""
        return self.built_at.astimezone(ZoneInfo(self.timezone))

    def as_json(self) -> bytes:
        """The manifest document."""
        doc = {
            "format_version": FORMAT_VERSION,
            "request_id": self.request_id,
            "subject": self.subject,
            "accounts": self.accounts,
            "built_at": self.built_local().isoformat(),
            "time_zone": self.timezone,
            "categories": {
                code: {"records": sum(tables.values()), "tables": tables}
                for code, tables in self.counts.items()
            },
            "files": self.files,
        }
        return json.dumps(doc, ensure_ascii=False, indent=2).encode()


def compressobj():
    """The deflate settings of every member (raw deflate, as ZIP wants it)."""
    return zlib.compressobj(level=COMPRESSION_LEVEL, wbits=-zlib.MAX_WBITS, memLevel=9)


class _Deflated(Method):
    """stream-zip's ZIP_64 for a member whose deflate stream was made as it was spooled."""

    def __init__(self, sink: CsvSink):
        self.sink = sink

    def _get(self, offset, default_get_compressobj):
        return ZIP_64._get(offset, self.sink.replay)


class _Assembly:
    def __init__(self, plans, collect, manifest, style, recipients, progress):
        self.plans, self.manifest = plans, manifest
        self.style, self.recipients, self.progress = style, recipients, progress
        self.codecs: dict[tuple, TableCodec] = {}
        self.producer = Producer(plans, collect, self.codec, self.json_head)
        self.done: CategoryDone | None = None
        self.sink: CsvSink | None = None

    def close(self) -> None:
        """Stop the producer and drop the CSV held (also when the consumer gave up half-way)."""
        self.producer.stop()
        if self.sink is not None:
            self.sink.close()

    def member(self, name: str, chunks: Iterable[bytes], method: Method = ZIP_64):
        """A ZIP member whose bytes are hashed on the way into the archive."""

        def tracked():
            digest, size = hashlib.sha256(), 0
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                yield chunk
            self.manifest.files.append({"path": name, "sha256": digest.hexdigest(), "size": size})

        modified = self.manifest.built_at.astimezone(dt.UTC).replace(tzinfo=None)
        return name, modified, stat.S_IFREG | 0o600, method, tracked()

    def members(self):
        pages: dict[str, int] = {}
        total = len(self.plans)
        if self.progress:
            self.progress(0, total)
        for done, plan in enumerate(self.plans, 1):
            # The JSON streams while the producer reads, and the CSV is spooled and deflated;
            # the JSON's end brings the counts and the pages.
            self.sink = CsvSink(compressobj)
            yield self.member(f"{plan.code}/{plan.code}.json", self.json_chunks())
            category, self.done = self.done, None
            self.manifest.counts[plan.code] = category.counts
            sink = self.sink
            sink.finish()
            yield self.member(f"{plan.code}/{plan.code}.csv", sink.spool.chunks(), _Deflated(sink))
            sink.close()
            self.sink = None
            html_pages = list(self.html_pages(plan, category.html_rows))
            pages[plan.code] = len(html_pages)
            yield from html_pages
            if self.progress:
                self.progress(done, total)
        recipients = recipients_in(self.recipients, self.plans, self.manifest.counts)
        if self.recipients is not None:
            yield self.member("recipients/recipients.json", [recipients_json(recipients)])
            yield self.member("recipients/recipients.csv", [recipients_csv(recipients)])
        counts = self.manifest.counts
        yield self.member(
            "index.html", [index_html(self.plans, counts, pages, self.manifest, recipients)]
        )
        yield self.member(
            "README.md",
            [readme_md(self.plans, counts, pages, self.manifest, recipients, self.style)],
        )
        # The manifest lists every file above; it cannot list itself.
        yield self.manifest_member()

    def json_chunks(self) -> Iterator[bytes]:
        for item in self.producer.chunks():
            if isinstance(item, CsvPart):
                self.sink.write(item)
            elif isinstance(item, CategoryDone):
                self.done = item
            else:
                yield item

    def manifest_member(self):
        name, modified, mode, method, _ = self.member("manifest.json", [])
        return name, modified, mode, method, iter([self.manifest.as_json()])

    def codec(self, plan: CategoryPlan, table: str, columns: tuple[str, ...]) -> TableCodec:
        key = (plan.code, table, columns)
        if key not in self.codecs:
            self.codecs[key] = TableCodec(columns, plan.money.get(table, {}), self.style)
        return self.codecs[key]

    def json_head(self, plan: CategoryPlan) -> dict:
        return {
            "category": plan.code,
            "name": plan.name,
            "description": plan.description,
            "fields": {c: plan.labels[c] for c in plan.columns},
            "time_zone": self.style.timezone,
            "money": {
                c: {"currency": m.currency_field or m.currency, **m.unit()}
                for table in plan.money.values()
                for c, m in table.items()
            },
        }

    def html_pages(self, plan: CategoryPlan, rows: list[tuple]):
        total = sum(self.manifest.counts[plan.code].values())
        n_pages = max(1, -(-len(rows) // HTML_PAGE_ROWS))
        header = [("记录类型", "Record type")] + [
            (plan.labels[c]["zh-CN"], plan.labels[c]["en"]) for c in plan.columns
        ]
        for number in range(1, n_pages + 1):
            chunk = rows[(number - 1) * HTML_PAGE_ROWS : number * HTML_PAGE_ROWS]
            yield self.member(
                f"html/{plan.code}-{number}.html",
                [html_category_page(plan, number, n_pages, header, chunk, total, len(rows))],
            )


def build(
    plans: list[CategoryPlan],
    collect: Collect,
    *,
    request_id: str,
    subject: str,
    built_at: dt.datetime,
    style: Style | None = None,
    recipients: list | None = None,
    progress: Progress | None = None,
    accounts: list[dict] | None = None,
) -> tuple[Iterator[bytes], Manifest]:
    """The ZIP as a stream of bytes, and the manifest (complete once the stream is consumed).

    ``collect(category)`` yields batches whose rows carry their parents' human keys (the
    collector's ``parent_keys=True``); ``style`` sets the time zone and the CSV's language;
    ``recipients`` (``policies/recipients.yaml``) adds the "who receives your data" section;
    ``progress(done, total)`` is called before the first category and after each one;
    ``accounts`` are the shop accounts the request covers (named in the manifest).
    """
    style = style or Style()
    manifest = Manifest(
        request_id=request_id,
        subject=subject,
        built_at=built_at,
        timezone=style.timezone,
        accounts=list(accounts or []),
    )
    assembly = _Assembly(plans, collect, manifest, style, recipients, progress)

    def chunks() -> Iterator[bytes]:
        try:
            yield from stream_zip(
                assembly.members(), chunk_size=ZIP_CHUNK, get_compressobj=compressobj
            )
        finally:
            assembly.close()  # also when the consumer gives up half-way

    return chunks(), manifest


def export_style(policies, request) -> Style:
    """How values are written for ``request``.

    Times in its jurisdiction's time zone (Asia/Shanghai for China), CSV words in its language.
    """
    requests = policies.requests
    code = request.jurisdiction if request.jurisdiction in requests.jurisdictions else None
    return Style(timezone=requests.jurisdiction(code).timezone, language=request.language)


def _money(source, field) -> Money:
    return Money(
        currency=field.currency or source.currency,
        amount_in=field.amount_in,
        decimals=field.decimals,
        currency_field=field.currency_field,
    )


def plan_categories(policies, wanted: Iterable[str] | None = None) -> list[CategoryPlan]:
    """Plans for the categories of the data map (all, or ``wanted``), in the policy's order.

    A table's columns are its primary key, its ancestors' human keys (``order_no`` on order
    items) and its exported fields of the category: exactly what the collector yields with
    ``parent_keys=True``.
    """
    datamap = policies.datamap
    wanted_set = set(wanted) if wanted else None
    plans = []
    for code, category in policies.categories.items():
        if wanted_set is not None and code not in wanted_set:
            continue
        tables: dict[str, tuple[str, ...]] = {}
        types: dict[str, str] = {"id": "text"}
        money: dict[str, dict[str, Money]] = {}
        for source, table, field in datamap.fields():
            if field.category != code or not field.export:
                continue
            if table.name not in tables:
                keys = source.parent_keys(table.name)
                tables[table.name] = ("id", *(f.name for _t, f in keys))
                for _t, key in keys:
                    types.setdefault(key.name, key.type)
            tables[table.name] = (*tables[table.name], field.name)
            types.setdefault(field.name, field.type)
            if field.type == "money":
                money.setdefault(table.name, {})[field.name] = _money(source, field)
        if not tables:
            continue
        columns = {c for cols in tables.values() for c in cols}
        plans.append(
            CategoryPlan(
                code=code,
                name=category.name,
                description=category.description,
                tables=tables,
                labels={c: policies.label(c) for c in columns},
                types=types,
                money=money,
            )
        )
    return plans
