"""Assembling one export ZIP as a stream, at constant memory.

Layout (``contract.md``)::

    <category>/<category>.json   every record of the category, machine-readable
    <category>/<category>.csv    the same as a table (UTF-8 with BOM)
    html/<category>-<n>.html     pages a person reads offline (the first HTML_MAX_ROWS records)
    index.html                   start here: categories, counts, links
    README.md                    what each file and field holds, in Chinese and English
    manifest.json                SHA-256 and size of every other file; request, subject, time

Each category is read from the sources once per format (JSON, CSV, HTML), so nothing is held in
memory but one batch of rows (and, for HTML, at most HTML_MAX_ROWS rows of one category).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import html
import json
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator

from stream_zip import ZIP_64, stream_zip

from exports.formats import csv_document, html_table, json_document, page, plain_rows

HTML_PAGE_ROWS = 500
HTML_MAX_ROWS = 10_000
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class CategoryPlan:
    """One category's tables and fields, with their names in both languages."""

    code: str
    name: dict[str, str]
    description: dict[str, str]
    tables: dict[str, tuple[str, ...]]  # table -> field names (the primary key "id" comes first)
    labels: dict[str, dict[str, str]]
    types: dict[str, str]

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
    files: list[dict] = dataclasses.field(default_factory=list)
    counts: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    # The shop accounts the request covers: [{"source", "key"}] (one person may have several).
    accounts: list[dict] = dataclasses.field(default_factory=list)

    def as_json(self) -> bytes:
        """The manifest document."""
        doc = {
            "format_version": FORMAT_VERSION,
            "request_id": self.request_id,
            "subject": self.subject,
            "accounts": self.accounts,
            "built_at": self.built_at.isoformat(),
            "categories": {
                code: {"records": sum(tables.values()), "tables": tables}
                for code, tables in self.counts.items()
            },
            "files": self.files,
        }
        return json.dumps(doc, ensure_ascii=False, indent=2).encode()


def _records(batches: Iterable) -> Iterator[tuple[str, list[str], tuple]]:
    for batch in batches:
        for values in plain_rows(batch.rows):
            yield batch.table, batch.columns, values


class _Assembly:
    def __init__(self, plans: list[CategoryPlan], collect: Collect, manifest: Manifest):
        self.plans, self.collect, self.manifest = plans, collect, manifest

    def member(self, name: str, chunks: Iterable[bytes]):
        """A ZIP member whose bytes are hashed on the way into the archive."""

        def tracked():
            digest, size = hashlib.sha256(), 0
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                yield chunk
            self.manifest.files.append({"path": name, "sha256": digest.hexdigest(), "size": size})

        modified = self.manifest.built_at.astimezone(dt.UTC).replace(tzinfo=None)
        return name, modified, stat.S_IFREG | 0o600, ZIP_64, tracked()

    def members(self):
        pages: dict[str, int] = {}
        for plan in self.plans:
            counts = self.manifest.counts.setdefault(plan.code, dict.fromkeys(plan.tables, 0))
            yield self.member(f"{plan.code}/{plan.code}.json", self.json_file(plan, counts))
            yield self.member(f"{plan.code}/{plan.code}.csv", self.csv_file(plan))
            html_pages = list(self.html_pages(plan))
            pages[plan.code] = len(html_pages)
            yield from html_pages
        yield self.member("index.html", [self.index(pages)])
        yield self.member("README.md", [self.readme(pages)])
        # The manifest lists every file above; it cannot list itself.
        yield self.manifest_member()

    def manifest_member(self):
        name, modified, mode, method, _ = self.member("manifest.json", [])
        return name, modified, mode, method, iter([self.manifest.as_json()])

    def json_file(self, plan: CategoryPlan, counts: dict[str, int]) -> Iterator[bytes]:
        head = {
            "category": plan.code,
            "name": plan.name,
            "description": plan.description,
            "fields": {c: plan.labels[c] for c in plan.columns},
        }

        def records():
            for table, columns, values in _records(self.collect(plan.code)):
                counts[table] += 1
                yield {"record_type": table, **dict(zip(columns, values, strict=True))}

        return json_document(head, records())

    def csv_file(self, plan: CategoryPlan) -> Iterator[bytes]:
        header = ["record_type", *plan.columns]
        index = {c: i for i, c in enumerate(plan.columns)}

        def rows():
            for table, columns, values in _records(self.collect(plan.code)):
                row = [""] * len(index)
                for column, value in zip(columns, values, strict=True):
                    row[index[column]] = "" if value is None else value
                yield [table, *row]

        return csv_document(header, rows())

    def html_pages(self, plan: CategoryPlan):
        rows: list[list] = []
        total = sum(self.manifest.counts[plan.code].values())
        index = {c: i for i, c in enumerate(plan.columns)}
        # closing(): stop reading (and release the cursor) once enough rows are in.
        with contextlib.closing(_records(self.collect(plan.code))) as records:
            for table, columns, values in records:
                row = [None] * len(index)
                for column, value in zip(columns, values, strict=True):
                    row[index[column]] = value
                rows.append([table, *row])
                if len(rows) >= HTML_MAX_ROWS:
                    break
        n_pages = max(1, -(-len(rows) // HTML_PAGE_ROWS))
        header = [("记录类型", "Record type")] + [
            (plan.labels[c]["zh-CN"], plan.labels[c]["en"]) for c in plan.columns
        ]
        for number in range(1, n_pages + 1):
            chunk = rows[(number - 1) * HTML_PAGE_ROWS : number * HTML_PAGE_ROWS]
            yield self.member(
                f"html/{plan.code}-{number}.html",
                [self.html_page(plan, number, n_pages, header, chunk, total, len(rows))],
            )

    def html_page(self, plan, number, n_pages, header, rows, total, shown) -> bytes:
        nav = ['<nav class="pager"><a href="../index.html">返回目录 / Back to contents</a>']
        if number > 1:
            nav.append(f'<a href="{plan.code}-{number - 1}.html" rel="prev">上一页 / Previous</a>')
        if number < n_pages:
            nav.append(f'<a href="{plan.code}-{number + 1}.html" rel="next">下一页 / Next</a>')
        nav.append(f"<span>第 {number} / {n_pages} 页 · Page {number} of {n_pages}</span></nav>")
        note = ""
        if shown < total:
            note = (
                f'<p class="note">此处显示前 {shown} 条，共 {total} 条；完整数据见 '
                f"{plan.code}.json / {plan.code}.csv。 Showing the first {shown} of {total} records; "
                f"the complete data is in {plan.code}.json and {plan.code}.csv.</p>"
            )
        body = (
            "".join(nav)
            + note
            + (html_table(header, rows) if rows else "<p>没有记录。 No records.</p>")
            + "".join(nav)
        )
        return page(f"{plan.name['zh-CN']} · {plan.name['en']}", plan.description["zh-CN"], body)

    def index(self, pages: dict[str, int]) -> bytes:
        items = []
        for plan in self.plans:
            count = sum(self.manifest.counts[plan.code].values())
            items.append(
                f'<li><a href="html/{plan.code}-1.html"><strong>{html.escape(plan.name["zh-CN"])}'
                f"</strong> · {html.escape(plan.name['en'])}</a> — {count} 条 records<br>"
                f"<small>{html.escape(plan.description['zh-CN'])} / "
                f"{html.escape(plan.description['en'])}</small><br>"
                f'<small><a href="{plan.code}/{plan.code}.json">JSON</a> · '
                f'<a href="{plan.code}/{plan.code}.csv">CSV</a> · {pages[plan.code]} 页 pages</small></li>'
            )
        built = self.manifest.built_at.isoformat(timespec="seconds")
        body = (
            "<p>这是您的个人信息副本。每个类别都有 JSON（便于转移到其他服务）和 CSV（可用 Excel 打开）"
            "文件，以及下面可直接浏览的网页。</p>"
            "<p>This is a copy of your personal data. Each category has a JSON file (portable to "
            "other services), a CSV file (opens in Excel) and the pages linked below.</p>"
            f'<ul class="cats">{"".join(items)}</ul>'
            "<p class=note>manifest.json 列出每个文件的 SHA-256 校验值。 manifest.json lists the "
            "SHA-256 of every file.</p>"
        )
        return page(
            "您的个人信息 · Your personal data",
            f"请求 Request {self.manifest.request_id} · {built}",
            body,
        )

    def readme(self, pages: dict[str, int]) -> bytes:
        lines = [
            "# 您的个人信息副本 / Your personal data",
            "",
            f"请求编号 Request: `{self.manifest.request_id}`  ",
            f"生成时间 Built at: {self.manifest.built_at.isoformat(timespec='seconds')}",
            "",
            "## 文件说明 / Files",
            "",
            "- `index.html`：从这里开始，用浏览器离线打开。Start here; opens offline in a browser.",
            "- `manifest.json`：每个文件的 SHA-256 和大小，用于核对完整性。SHA-256 and size of every "
            "file, to check nothing was altered.",
            "- `<类别>/<类别>.json`：机器可读格式，可转移到其他服务。Machine-readable, portable.",
            "- `<类别>/<类别>.csv`：表格格式（UTF-8，可用 Excel 打开）。A table (UTF-8, opens in Excel).",
            f"- `html/<类别>-<页>.html`：可浏览的网页，每页 {HTML_PAGE_ROWS} 条，最多 {HTML_MAX_ROWS} 条。"
            f"Readable pages, {HTML_PAGE_ROWS} records each, up to {HTML_MAX_ROWS} records.",
            "",
            "每条记录的 `record_type` 表示它来自哪张表。The `record_type` of a record names the "
            "table it comes from. 时间为 ISO 8601 格式（含时区）。Times are ISO 8601 with offset.",
            "",
        ]
        for plan in self.plans:
            count = sum(self.manifest.counts[plan.code].values())
            lines += [
                f"## {plan.name['zh-CN']} / {plan.name['en']} (`{plan.code}`)",
                "",
                f"{plan.description['zh-CN']}  ",
                f"{plan.description['en']}",
                "",
                f"Files: `{plan.code}/{plan.code}.json`, `{plan.code}/{plan.code}.csv`, "
                f"`html/{plan.code}-1.html` … `html/{plan.code}-{pages[plan.code]}.html`; "
                f"{count} 条记录 records.",
                "",
                "| 字段 field | 中文 | English | 类型 type |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| `{c}` | {plan.labels[c]['zh-CN']} | {plan.labels[c]['en']} | {plan.types.get(c, '')} |"
                for c in plan.columns
            ]
            lines.append("")
        return "\n".join(lines).encode()


def build(
    plans: list[CategoryPlan],
    collect: Collect,
    *,
    request_id: str,
    subject: str,
    built_at: dt.datetime,
    accounts: list[dict] | None = None,
) -> tuple[Iterator[bytes], Manifest]:
    """The ZIP as a stream of bytes, and the manifest (complete once the stream is consumed)."""
    manifest = Manifest(
        request_id=request_id, subject=subject, built_at=built_at, accounts=list(accounts or [])
    )
    assembly = _Assembly(plans, collect, manifest)
    chunks = stream_zip(
        assembly.members(),
        get_compressobj=lambda: zlib.compressobj(wbits=-zlib.MAX_WBITS, level=6),
    )
    return chunks, manifest


def plan_categories(policies, wanted: Iterable[str] | None = None) -> list[CategoryPlan]:
    """Plans for the categories of the data map (all, or ``wanted``), in the policy's order."""
    datamap = policies.datamap
    wanted_set = set(wanted) if wanted else None
    plans = []
    for code, category in policies.categories.items():
        if wanted_set is not None and code not in wanted_set:
            continue
        tables: dict[str, tuple[str, ...]] = {}
        types: dict[str, str] = {"id": "text"}
        for _source, table, field in datamap.fields():
            if field.category == code and field.export:
                tables[table.name] = (*tables.get(table.name, ("id",)), field.name)
                types.setdefault(field.name, field.type)
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
            )
        )
    return plans
