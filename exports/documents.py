"""The archive's documents for a person: index.html, README.md and the per-category HTML pages.

Everything here is bilingual (zh-CN first, English second) and self-contained (no external
resources). The assembly hands over counts and plans; nothing here reads a source.
"""

from __future__ import annotations

import html

from exports.formats import html_table, page
from privacy_service.policies.recipients import RIGHTS

HTML_PAGE_ROWS = 500
HTML_MAX_ROWS = 10_000


def _e(text) -> str:
    return html.escape(str(text))


def html_category_page(plan, number, n_pages, header, rows, total, shown) -> bytes:
    """One page of a category's table, with a pager and a note when rows were left out."""
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


def _recipients_html(recipients: list[dict]) -> str:
    if not recipients:
        return ""
    rows = []
    for r in recipients:
        cats = "、".join(c["name"]["zh-CN"] for c in r["categories"])
        cats_en = ", ".join(c["name"]["en"] for c in r["categories"])
        abroad = "（境外 abroad）" if r["cross_border"] else ""
        rows.append(
            f"<tr><td>{_e(r['name']['zh-CN'])}<small>{_e(r['name']['en'])}</small></td>"
            f"<td>{_e(r['kind']['zh-CN'])}<small>{_e(r['kind']['en'])}</small></td>"
            f"<td>{_e(cats)}<small>{_e(cats_en)}</small></td>"
            f"<td>{_e(r['purpose']['zh-CN'])}<small>{_e(r['purpose']['en'])}</small></td>"
            f"<td>{_e(r['country']['zh-CN'])}{abroad}<small>{_e(r['country']['en'])}</small></td>"
            f"<td>{_e(r['contact'])}</td></tr>"
        )
    return (
        '<h2 id="recipients">谁接收您的信息 · Who receives your data</h2>'
        "<p>为完成订单、配送、支付、清关和您同意的营销，我们向下列接收方提供您的部分信息。"
        "只列出您的副本中有记录的类别。（《个人信息保护法》第二十三、三十九条）</p>"
        "<p>To fulfil orders, deliver, take payment, clear customs and send the marketing you "
        "agreed to, we share some of your data with these recipients. Only categories with "
        "records in this copy are listed (PIPL Art. 23 and 39). recipients/recipients.json and "
        "recipients/recipients.csv hold the same list.</p>"
        '<div class="wrap"><table><thead><tr><th>接收方<small>Recipient</small></th>'
        "<th>类型<small>Kind</small></th><th>信息类别<small>Categories</small></th>"
        "<th>目的<small>Purpose</small></th><th>所在国家或地区<small>Country</small></th>"
        "<th>联系方式<small>Contact</small></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        + f"<p>{_e(RIGHTS['zh-CN'])}</p><p>{_e(RIGHTS['en'])}</p>"
    )


def index_html(plans, counts, pages, manifest, recipients: list[dict]) -> bytes:
    """``index.html``: what the archive holds, category by category, and who receives data."""
    items = []
    for plan in plans:
        count = sum(counts[plan.code].values())
        items.append(
            f'<li><a href="html/{plan.code}-1.html"><strong>{_e(plan.name["zh-CN"])}'
            f"</strong> · {_e(plan.name['en'])}</a> — {count} 条 records<br>"
            f"<small>{_e(plan.description['zh-CN'])} / {_e(plan.description['en'])}</small><br>"
            f'<small><a href="{plan.code}/{plan.code}.json">JSON</a> · '
            f'<a href="{plan.code}/{plan.code}.csv">CSV</a> · {pages[plan.code]} 页 pages</small></li>'
        )
    built = manifest.built_local().isoformat(timespec="seconds")
    body = (
        "<p>这是您的个人信息副本。每个类别都有 JSON（便于转移到其他服务）和 CSV（可用 Excel 打开）"
        "文件，以及下面可直接浏览的网页。时间按 "
        f"{_e(manifest.timezone)} 时区显示（含偏移，北京时间为 +08:00），金额以元为单位并注明币种。</p>"
        "<p>This is a copy of your personal data. Each category has a JSON file (portable to "
        "other services), a CSV file (opens in Excel) and the pages linked below. Times are "
        f"shown in {_e(manifest.timezone)} with their offset; amounts in yuan with the currency."
        "</p>"
        f'<ul class="cats">{"".join(items)}</ul>'
        + _recipients_html(recipients)
        + "<p class=note>manifest.json 列出每个文件的 SHA-256 校验值。 manifest.json lists the "
        "SHA-256 of every file.</p>"
    )
    return page(
        "您的个人信息 · Your personal data",
        f"请求 Request {manifest.request_id} · {built}",
        body,
    )


VALUES_README = [
    "## 数值的写法 / How values are written",
    "",
    "- 时间：{tz} 时间，ISO 8601 格式并带时区偏移（如 `2023-06-03T04:00:00+08:00`），JSON、CSV 和网页"
    "相同。Times: in {tz} with the offset, the same in JSON, CSV and the pages.",
    "- 金额：CSV 和网页以元显示，保留两位小数并注明币种（如 `396.00 CNY`，负数用减号 `−`）；"
    "JSON 保留数据库中的整数，单位见下表“类型”一栏（人民币为分，`39600` 即 396.00 元）。"
    "Money: CSV and pages show yuan with two decimals and the currency (`396.00 CNY`; a negative "
    "amount starts with the minus sign `−`). JSON keeps the stored integer; the unit is named in "
    "the type column below (fen, 1/100 yuan, for CNY: `39600` is 396.00 CNY).",
    "- 是/否：JSON 为 `true`/`false`；CSV 按您提交请求时使用的语言写作 {words}；网页写作“是 / yes”。"
    "Yes/no: `true`/`false` in JSON; {words} in the CSV (the language of your request); "
    "“是 / yes” on the pages.",
    "- 子记录带有上级记录的编号，例如订单商品、退款和报关单都带有订单号 `order_no`。Child records "
    "carry their parent's number: order items, refunds and customs declarations carry the order "
    "number `order_no`.",
    "- CSV 中以 `=`、`+`、`-`、`@` 开头的文字前加了一个 `'`，防止表格软件把它当作公式执行"
    "（JSON 中为原样）。In the CSV, text starting with `=`, `+`, `-` or `@` gets a leading `'` so "
    "a spreadsheet shows it instead of running it as a formula (JSON keeps it as stored).",
    "",
]


def _type_text(plan, column: str) -> str:
    kind = plan.types.get(column, "")
    units = {
        m.unit()["en"] for table in plan.money.values() for c, m in table.items() if c == column
    }
    return f"{kind}, JSON: {'; '.join(sorted(units))}" if units else kind


def readme_md(plans, counts, pages, manifest, recipients: list[dict], style) -> bytes:
    """``README.md``: the files, how values are written, each category's fields, recipients."""
    words = "是/否" if style.language == "zh-CN" else "yes/no"
    lines = [
        "# 您的个人信息副本 / Your personal data",
        "",
        f"请求编号 Request: `{manifest.request_id}`  ",
        f"生成时间 Built at: {manifest.built_local().isoformat(timespec='seconds')}",
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
        "- `recipients/recipients.json`, `recipients/recipients.csv`：接收您信息的第三方。"
        "Who receives your data.",
        "",
        "每条记录的 `record_type` 表示它来自哪张表。The `record_type` of a record names the "
        "table it comes from.",
        "",
        *(line.format(tz=style.timezone, words=words) for line in VALUES_README),
    ]
    for plan in plans:
        count = sum(counts[plan.code].values())
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
            f"| `{c}` | {plan.labels[c]['zh-CN']} | {plan.labels[c]['en']} | {_type_text(plan, c)} |"
            for c in plan.columns
        ]
        lines.append("")
    if recipients:
        lines += ["## 谁接收您的信息 / Who receives your data", ""]
        for r in recipients:
            cats = ", ".join(f"{c['name']['zh-CN']} {c['name']['en']}" for c in r["categories"])
            abroad = " (境外 / abroad)" if r["cross_border"] else ""
            lines.append(
                f"- **{r['name']['zh-CN']} / {r['name']['en']}** ({r['kind']['en']}), "
                f"{r['country']['zh-CN']} / {r['country']['en']}{abroad}: {cats}. "
                f"{r['purpose']['zh-CN']} / {r['purpose']['en']}. {r['contact']}"
            )
        lines += ["", RIGHTS["zh-CN"], "", RIGHTS["en"], ""]
    return "\n".join(lines).encode()
