"""The request form of the customer page: reading it, and putting errors on the right input."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from privacy_service.datamap import correct
from privacy_service.errors import Problem
from privacy_service.notices import outcomes
from privacy_service.subjects.history import CorrectionRecord
from privacy_service.web.portal.i18n import table_label

CORRECTION_ROWS = 3  # corrections one request may carry on the page (the API takes up to 20)


def form_data(form, lang: str) -> dict:
    """The API's request body from the form (corrections remember their row on the page)."""
    contact = form.get("contact", "").strip()
    data: dict = {"type": form.get("type", ""), "language": lang}
    data["email" if "@" in contact else "phone"] = contact
    if form.getlist("categories") and data["type"] in ("access", "deletion"):
        data["categories"] = form.getlist("categories")
    if data["type"] == "correction":
        data["corrections"] = []
        for i in range(CORRECTION_ROWS):
            chosen = form.get(f"field-{i}", "")
            value, record = form.get(f"value-{i}", ""), form.get(f"record-{i}", "").strip()
            if not (chosen or value.strip() or record):
                continue  # an empty row
            category, _, field = chosen.partition(":")
            item = {"category": category, "field": field, "value": value, "row": i}
            if record.isdigit():
                item["record_id"] = int(record)
            elif record:
                item["record_id"] = record  # not a number: the schema says so, on this row
            data["corrections"].append(item)
    if form.get("note", "").strip():
        data["note"] = form["note"].strip()
    who = form.get("for", "self") or "self"
    if who != "self":
        # For someone else: the contact above is the account's; the requester's own goes here.
        data["on_behalf"] = {"relationship": who}
        mine = form.get("requester_contact", "").strip()
        data["on_behalf"]["email" if "@" in mine else "phone"] = mine
        if form.get("requester_name", "").strip():
            data["on_behalf"]["name"] = form["requester_name"].strip()
    return data


def field_errors(messages: dict, rows: list[int] | None = None) -> dict:
    """Schema or service errors as messages on the inputs they are about."""
    errors = {}
    for name, message in messages.items():
        if name in ("email", "phone"):
            errors["contact"] = _("请输入有效的中国大陆手机号或电子邮箱。")
        elif name == "corrections":
            errors.update(_correction_errors(message, rows or []))
        elif name == "on_behalf":
            errors.update(_behalf_errors(message))
        elif name in ("type", "categories", "note"):
            errors[name] = _("请检查标出的项目。") if name != "type" else _("请选择您想做什么。")
        else:
            errors.setdefault("contact", _("请检查标出的项目。"))
    return errors


def _behalf_errors(message) -> dict:
    if not isinstance(message, dict):
        return {"who": _("请检查标出的项目。")}
    errors = {}
    if "relationship" in message:
        errors["who"] = _("此身份不能提出这类请求，请选择其他请求类型。")
    if "email" in message or "phone" in message:
        errors["requester_contact"] = _("请输入有效的中国大陆手机号或电子邮箱。")
    if "name" in message:
        errors["requester_name"] = _("请检查标出的项目。")
    return errors or {"who": _("请检查标出的项目。")}


def _correction_errors(message, rows: list[int]) -> dict:
    if not isinstance(message, dict) or not all(isinstance(k, int) for k in message):
        return {"field-0": _("请选择要更正的项目。")}  # no correction named at all
    errors = {}
    for index, problems in message.items():
        row = rows[index] if index < len(rows) else index
        problems = problems if isinstance(problems, dict) else {"value": problems}
        if "category" in problems or "field" in problems:
            errors[f"field-{row}"] = _("请选择要更正的项目。")
        if "value" in problems:
            errors[f"value-{row}"] = _(
                "这个内容不符合所选项目的格式（例如手机号为 11 位数字，邮政编码为 6 位数字）。"
            )
        if "record_id" in problems:
            errors[f"record-{row}"] = _("请填写要更正的记录编号（见您的数据副本），只能是数字。")
    return errors


def with_value_errors(messages: dict, raw: dict, datamap) -> dict:
    """Schema errors plus the value errors of the corrections the schema had no quarrel with."""
    problems = messages.get("corrections")
    if not isinstance(problems, dict) or not all(isinstance(k, int) for k in problems):
        problems = {} if "corrections" not in messages else None
    if problems is None:
        return messages
    merged = dict(problems)
    for index, item in enumerate(raw.get("corrections") or []):
        if index in problems or not item.get("category") or not item.get("field"):
            continue
        try:
            correct.validate(datamap, [{k: v for k, v in item.items() if k != "row"}])
        except Problem as exc:
            merged[index] = (exc.errors or {}).get("corrections", {}).get(0, {"value": ["?"]})
    return {**messages, "corrections": merged} if merged else messages


def record_choices(collector, subject) -> list[tuple[str, list]]:
    """For a signed-in customer: their records that corrections can name, to pick from a list.

    One group per table whose fields can be corrected (addresses, profiles...); each record is
    shown by its number and up to three of its non-sensitive fields (province, city, district).
    """
    groups = []
    seen = set()
    for (_category, _field), places in collector.datamap.correctable().items():
        for source, table, _spec in places:
            if table.name == source.identity_table or (source.name, table.name) in seen:
                continue
            seen.add((source.name, table.name))
            key = collector.subject_key(source, subject)
            if key is None:
                continue
            shown = [
                f.name
                for f in table.fields
                if not f.sensitive and f.type in ("address_part", "text", "postal_code")
            ][:3]
            t = collector.table(source.name, table.name)
            pk = next(iter(t.primary_key.columns))
            joined, _tables, where = collector.scope(source, table, key)
            query = select(pk, *(t.c[n] for n in shown)).select_from(joined).where(where)
            with collector.engines[source.name].connect() as conn:
                rows = conn.execute(query.order_by(pk).limit(50)).all()
            if rows:
                items = [
                    (row[0], f"#{row[0]} " + " ".join(str(v) for v in row[1:] if v)) for row in rows
                ]
                groups.append((table_label(table.name), items))
    return groups


def correction_changes(session, policies, found, lang: str) -> list[dict]:
    """What a completed correction changed, partly hidden (the customer knows both values)."""
    if found.type != "correction" or found.status != "completed":
        return []
    records = session.scalars(
        select(CorrectionRecord)
        .where(CorrectionRecord.request_id == found.id)
        .order_by(CorrectionRecord.approved_at, CorrectionRecord.id)
    ).all()
    out = []
    for record in records:
        kind = _field_type(policies, record.corrected_table, record.field)
        out.append(
            {
                "label": policies.label(record.field)[lang],
                "old": outcomes.masked(kind, record.old_value or ""),
                "new": outcomes.masked(kind, record.new_value or ""),
            }
        )
    return out


def _field_type(policies, table: str, field: str) -> str:
    for source in policies.datamap.sources.values():
        spec = source.tables.get(table)
        for f in spec.fields if spec else ():
            if f.name == field:
                return f.type
    return "text"
