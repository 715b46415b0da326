"""Corrections (PIPL Art. 46).

Which fields customers may correct, validating the new values, and writing approved changes to
the source systems (one transaction per source).
"""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.crypto import current_vault
from privacy_service.crypto.normalize import InvalidValue, normalize
from privacy_service.datamap import steps
from privacy_service.db import utcnow
from privacy_service.errors import Unprocessable
from privacy_service.policies.datamap import DataMap
from privacy_service.subjects.history import CorrectionRecord

_POSTAL = re.compile(r"^\d{6}$")
_BOOL = {"true": True, "false": False, "1": True, "0": False, "是": True, "否": False}


def _value(field_type: str, value: str):
    text = value.strip()
    if field_type in ("email", "phone", "id_number"):
        return normalize(field_type, text)
    if field_type == "postal_code":
        if not _POSTAL.match(text):
            raise InvalidValue("a postal code has 6 digits")
        return text
    if field_type == "boolean":
        if text.lower() not in _BOOL:
            raise InvalidValue("give true or false")
        return _BOOL[text.lower()]
    if field_type == "name":
        if not 1 <= len(text) <= 32 or any(c.isdigit() for c in text):
            raise InvalidValue("a name has 1 to 32 characters and no digits")
        return text
    if field_type == "address_part":
        if not 1 <= len(text) <= 100:
            raise InvalidValue("an address part has 1 to 100 characters")
        return text
    if not 1 <= len(text) <= 200:
        raise InvalidValue("1 to 200 characters")
    return text


def validate(datamap: DataMap, corrections: list[dict]) -> list[dict]:
    """Check each correction names a correctable field and a valid value.

    Returns them normalised. Errors name the item and the field, never the value.
    """
    targets = datamap.correctable()
    errors: dict = {}
    out = []
    for i, item in enumerate(corrections):
        found = targets.get((item["category"], item["field"]))
        if not found:
            errors[i] = {"field": ["Not a field customers can correct in this category."]}
            continue
        source, table, field = found[0]
        if table.name != source.identity_table and "record_id" not in item:
            errors[i] = {"record_id": ["Name the record to correct (its id in your data export)."]}
            continue
        try:
            value = _value(field.type, item["value"])
        except InvalidValue as exc:
            errors[i] = {"value": [str(exc)]}
            continue
        out.append({**item, "value": value})
    if errors:
        raise Unprocessable(errors={"corrections": errors})
    return out


def apply(collector, session: Session, request, subject, *, actor: str) -> list[dict]:
    """Write the approved corrections; returns what changed (no values): one dict per field.

    Each changed row's previous value is kept, sealed, in the corrections' history with who
    approved it. A record that does not belong to the customer is refused (422) and nothing is
    written.
    """
    datamap = collector.datamap
    targets = datamap.correctable()
    by_source: dict[str, list] = {}
    for item in request.corrections or []:
        for source, table, field in targets[(item["category"], item["field"])]:
            by_source.setdefault(source.name, []).append((source, table, field, item))
    changed = []
    for name, items in by_source.items():
        steps.started(session, request.id, name, "correction")
        changed_before = len(changed)
        # Reflect before the transaction: on SQLite a second connection would wait on our lock.
        prepared = []
        for source, table, field, item in items:
            key = collector.subject_key(source, subject)
            if key is None:
                continue  # no account of this customer in this source
            t = collector.table(name, table.name)
            prepared.append((source, table, field, item, t, collector.scope(source, table, key)))
        with collector.engines[name].begin() as conn:
            for source, table, field, item, t, (joined, _tables, where) in prepared:
                pk = next(iter(t.primary_key.columns))
                rows = select(pk).select_from(joined).where(where)
                if table.name != source.identity_table:
                    rows = rows.where(pk == item["record_id"])
                rows = rows.add_columns(t.c[field.name])
                before = list(conn.execute(rows))
                if not before:
                    raise Unprocessable(
                        errors={"corrections": {"record_id": ["Not one of yours."]}}
                    )
                ids = [row[0] for row in before]
                conn.execute(update(t).where(pk.in_(ids)).values({field.name: item["value"]}))
                for record_id, old in before:
                    _keep_history(
                        session, subject, request, item, table, field, record_id, old, actor
                    )
                changed.append(
                    {
                        "category": item["category"],
                        "table": table.name,
                        "field": field.name,
                        "type": field.type,
                        "value": item["value"],
                        "rows": len(ids),
                    }
                )
                if table.name == source.identity_table and field.type in ("email", "phone"):
                    _update_directory(subject, field.type, item["value"])
        steps.finished(session, request.id, name, "correction", len(changed) - changed_before)
    audit.record(
        session,
        "correction.applied",
        actor=actor,
        request_id=request.id,
        subject_id=subject.id,
        fields=[f"{c['table']}.{c['field']}" for c in changed],
        details={"history_records": sum(c["rows"] for c in changed)},
    )
    return changed


def _keep_history(session, subject, request, item, table, field, record_id, old, actor) -> None:
    record = CorrectionRecord(
        subject_id=subject.id,
        request_id=request.id,
        corrected_category=item["category"],
        corrected_table=table.name,
        record_id=str(record_id),
        field=field.name,
        approved_by=actor,
        approved_at=utcnow(),
    )
    session.add(record)
    # Sealed under the customer's key: readable in their export, gone when their key is.
    record.old_value = None if old is None else str(old)
    record.new_value = str(item["value"])


def _update_directory(subject, kind: str, value: str) -> None:
    # The service finds customers by contact: keep its copy and blind index in step.
    vault = current_vault()
    setattr(subject, kind, value)
    setattr(subject, f"{kind}_bidx", vault.blind_index(kind, value))
