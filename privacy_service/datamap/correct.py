"""Corrections (PIPL Art. 46).

Which fields customers may correct, validating the new values, and writing approved changes to
the source systems (SQL databases and HTTP providers), each source its own step.
"""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.crypto import vault_of
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


@dataclasses.dataclass
class Outcome:
    """One pass of writing a request's corrections: what changed, and the sources that failed."""

    changed: list[dict]
    failed: dict[str, str]  # source -> error type


class NotTheCustomers(Exception):
    """A record named by the correction is not one of the customer's (found on a retry)."""


def apply(collector, session: Session, request, subject, *, actor: str, first: bool = True):
    """Write the approved corrections to every source not yet done; returns an ``Outcome``.

    Each source is its own step (``datamap/steps.py``): read, then written in its own
    transaction, then recorded done and committed, so one source failing (down, timing out,
    answering garbage) neither undoes nor blocks the others; it is recorded failed, with its
    error type, for a later pass, and a source already done is not written again. Each changed
    row's previous value is kept, sealed, in the corrections' history with who approved it,
    committed before the source is written (a retry after a crash finds it and adds no second
    record). On the ``first`` pass a record that is not the customer's is refused (422) before
    anything is written; on a retry it fails that source's step instead.
    """
    datamap = collector.datamap
    targets = datamap.correctable()
    by_source: dict[str, list] = {}
    for item in request.corrections or []:
        for source, table, field in targets[(item["category"], item["field"])]:
            by_source.setdefault(source.name, []).append((source, table, field, item))
    failed: dict[str, str] = {}
    prepared: dict[str, list] = {}
    for name, items in by_source.items():
        if steps.settled(session, request.id, name, "correction"):
            continue
        try:
            prepared[name] = [_read(collector, subject, *target) for target in items]
        except NotTheCustomers as exc:
            if first:
                raise Unprocessable(
                    errors={"corrections": {"record_id": ["Not one of yours."]}}
                ) from None
            failed[name] = type(exc).__name__
        except Exception as exc:  # the source is down or misbehaving: the others go ahead
            failed[name] = type(exc).__name__
    changed = []
    for name, reads in prepared.items():
        steps.started(session, request.id, name, "correction")
        for read in reads:
            _keep_history(session, subject, request, read, actor)
        session.commit()  # history first: a crash after the source's write cannot lose it
        try:
            done = [_write(collector, read) for read in reads]
        except Exception as exc:
            session.rollback()
            failed[name] = type(exc).__name__
            continue
        for read in done:
            if read.table.name == datamap.sources[name].identity_table and read.field.type in (
                "email",
                "phone",
            ):
                _update_directory(session, subject, read.field.type, read.item["value"])
        changed += [read.change() for read in done]
        steps.finished(session, request.id, name, "correction", sum(r.rows for r in done))
        audit.record(
            session,
            "correction.applied",
            actor=actor,
            request_id=request.id,
            subject_id=subject.id,
            fields=[f"{r.table.name}.{r.field.name}" for r in done],
            details={"source": name, "history_records": sum(len(r.before) for r in done)},
        )
        session.commit()
    for name, error in failed.items():
        if name not in prepared:  # failed while reading: this attempt was not recorded yet
            steps.started(session, request.id, name, "correction")
        steps.failed(session, request.id, name, "correction", error)
    session.commit()
    return Outcome(changed, failed)


@dataclasses.dataclass
class _Read:
    """One correction item at one table of one source: the rows it changes, as they were."""

    source: object
    table: object
    field: object
    item: dict
    before: list[tuple]  # (record id, old value)
    rows: int = 0

    def change(self) -> dict:
        """What changed, for the notice (the new value, which the customer typed)."""
        return {
            "category": self.item["category"],
            "table": self.table.name,
            "field": self.field.name,
            "type": self.field.type,
            "value": self.item["value"],
            "rows": self.rows,
        }


def _read(collector, subject, source, table, field, item) -> _Read:
    """The customer's rows (records) this item changes; ``NotTheCustomers`` for another's."""
    key = collector.subject_key(source, subject)
    if key is None:
        return _Read(source, table, field, item, [])  # no account of theirs in this source
    named = table.name != source.identity_table
    if source.kind == "http":
        key_field = table.http["key"]
        records = collector.engines[source.name].account_records(table, key)
        before = [
            (r.get(key_field), r.get(field.name))
            for r in records
            if not named or str(r.get(key_field)) == str(item["record_id"])
        ]
    else:
        t = collector.table(source.name, table.name)
        joined, _tables, where = collector.scope(source, table, key)
        pk = next(iter(t.primary_key.columns))
        rows = select(pk, t.c[field.name]).select_from(joined).where(where)
        if named:
            rows = rows.where(pk == item["record_id"])
        with collector.engines[source.name].connect() as conn:
            before = [tuple(row) for row in conn.execute(rows)]
    if named and not before:
        raise NotTheCustomers(f"{source.name}.{table.name}")
    return _Read(source, table, field, item, before)


def _write(collector, read: _Read) -> _Read:
    """Set the new value on the rows read (setting a value twice changes nothing)."""
    ids = [record_id for record_id, _old in read.before]
    if not ids:
        return read
    if read.source.kind == "http":
        client = collector.engines[read.source.name]
        values = {read.field.name: read.item["value"]}
        read.rows = sum(client.change(read.table, "update", i, values) for i in ids)
        return read
    t = collector.table(read.source.name, read.table.name)
    pk = next(iter(t.primary_key.columns))
    with collector.engines[read.source.name].begin() as conn:
        conn.execute(update(t).where(pk.in_(ids)).values({read.field.name: read.item["value"]}))
    read.rows = len(ids)
    return read


def _keep_history(session, subject, request, read: _Read, actor: str) -> None:
    """Record each row's previous value once per request (a retry finds the first record)."""
    for record_id, old in read.before:
        known = session.scalar(
            select(CorrectionRecord.id).where(
                CorrectionRecord.request_id == request.id,
                CorrectionRecord.corrected_table == read.table.name,
                CorrectionRecord.field == read.field.name,
                CorrectionRecord.record_id == str(record_id),
            )
        )
        if known:
            continue
        record = CorrectionRecord(
            subject_id=subject.id,
            request_id=request.id,
            corrected_category=read.item["category"],
            corrected_table=read.table.name,
            record_id=str(record_id),
            field=read.field.name,
            approved_by=actor,
            approved_at=utcnow(),
        )
        session.add(record)
        # Sealed under the customer's key: readable in their export, gone when their key is.
        record.old_value = None if old is None else str(old)
        record.new_value = str(read.item["value"])


def _update_directory(session: Session, subject, kind: str, value: str) -> None:
    # The service finds customers by contact: keep its copy and blind index in step.
    vault = vault_of(session)
    setattr(subject, kind, value)
    setattr(subject, f"{kind}_bidx", vault.blind_index(kind, value))
