"""The retention engine: what has expired under ``policies/retention.yaml`` goes.

Expired rows are deleted or anonymised in bounded batches, across all customers, sparing those
under a legal hold.

Each batch is one short transaction (no long locks); the selection is by condition, so a purge
killed half-way and run again removes the rest, once. A run is recorded (counts per rule, errors,
duration) and audited; its counts grow with every committed batch, and a run whose process died
is closed as ``interrupted`` with what it removed (``recover_abandoned``). ``preview`` is the dry
run; ``explain`` says why one row is kept or when it goes. No Flask imports: the nightly job,
the CLI and tests call this.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from privacy_service import audit, batches, runs
from privacy_service.db import utcnow
from privacy_service.holds import LegalHold
from privacy_service.requests.behalf import EVIDENCE_KEEP_DAYS, purge_evidence
from privacy_service.subjects.identity import IdentityDocument
from privacy_service.subjects.models import Subject
from retention.periods import cutoff, cutoff_inverse, naive_if_sqlite
from retention.purge_records import PurgeRun, add_count, recover_abandoned, settle_pending
from retention.rows import anonymised, condition

BATCH = 5000


@dataclasses.dataclass
class Target:
    """Where one rule acts on one table: the rows it selects and what it does to them."""

    rule: object
    source: object
    table: object
    engine: object
    t: object
    joined: object
    where: object
    values: dict | None


class _Holds:
    """The subjects under a legal hold on ``today``, read once per pass, and their keys.

    A pass builds one selection per (rule, table); each asks which customers a hold spares in
    its source and category. One query answers them all (the holds and their subjects).
    """

    def __init__(self, collector, session, today: dt.date):
        self.collector = collector
        self._holds = session.execute(
            select(LegalHold.subject_id, LegalHold.category).where(
                LegalHold.released_at.is_(None), LegalHold.until >= today
            )
        ).all()
        wanted = {subject_id for subject_id, _ in self._holds}
        self._subjects = (
            {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(wanted)))}
            if wanted
            else {}
        )
        self._keys: dict[tuple[str, str], list] = {}

    def keys(self, source, category: str) -> list:
        """The keys in ``source`` of the subjects a hold on ``category`` (or on all) spares."""
        if (source.name, category) not in self._keys:
            held = {s for s, c in self._holds if c is None or c == category}
            keys = []
            for subject_id, subject in self._subjects.items():
                if subject_id in held:
                    keys.extend(self.collector.subject_key(source, subject) or ())
            self._keys[source.name, category] = keys
        return self._keys[source.name, category]


def _held_keys(collector, session, source, category, today) -> list:
    return _Holds(collector, session, today).keys(source, category)


def targets(collector, policies, session, now: dt.datetime) -> list[Target]:
    """Every (rule, table) the engine acts on, with its selection as of ``now``."""
    out = []
    holds = _Holds(collector, session, now.date())
    for rule in policies.retention.rules:
        for source in policies.datamap.sources.values():
            if source.kind != "sql":
                continue
            for name in rule.tables:
                if name not in source.tables:
                    continue
                table = source.tables[name]
                engine = collector.engines[source.name]
                t = collector.table(source.name, name)
                joined, tables, root = collector.root(source, table)
                trigger = tables[rule.trigger_table].c[rule.trigger_field]
                where = trigger < naive_if_sqlite(engine, cutoff(now, rule.period))
                held = holds.keys(source, rule.category)
                if held:
                    where = and_(where, root.notin_(held))
                values = None
                if rule.action == "anonymise":
                    values = anonymised(t, table, rule.category)
                    if not values:
                        continue
                    # Only rows not anonymised yet: the purge must converge, not repeat nightly.
                    where = and_(
                        where,
                        or_(
                            *(
                                t.c[c].is_not(None) & (t.c[c] != v)
                                if v is not None
                                else t.c[c].is_not(None)
                                for c, v in values.items()
                            )
                        ),
                    )
                out.append(Target(rule, source, table, engine, t, joined, where, values))
    return out


def preview(collector, policies, session, now: dt.datetime | None = None) -> dict:
    """What a run now would remove: rows per rule and table (nothing changes)."""
    now = now or utcnow()
    counts: dict = {}
    for target in targets(collector, policies, session, now):
        with target.engine.connect() as conn:
            n = conn.execute(
                select(func.count()).select_from(target.joined).where(target.where)
            ).scalar()
        counts.setdefault(target.rule.id, {})[target.table.name] = n
    counts["identity_documents"] = {
        "identity_documents": len(_expired_documents(collector, policies, session, now))
    }
    return counts


def run(
    collector,
    policies,
    session: Session,
    *,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> PurgeRun:
    """One retention pass; records and audits it. The caller's session is committed.

    Runs left ``running`` by a dead process are first closed as ``interrupted``. Every batch's
    count is committed with the batch (see ``privacy_service.batches``), so this run's record
    says what it removed even if the process is killed half-way.
    """
    now = now or utcnow()
    started = time.monotonic()
    recover_abandoned(collector, session)
    record = PurgeRun(
        started_at=utcnow(),
        as_of=now,
        dry_run=False,
        status="running",
        counts={},
        errors=[],
        holder=runs.holder(),
        heartbeat_at=utcnow(),
    )
    session.add(record)
    session.commit()
    runs.started(record.id)
    try:
        return _run(collector, policies, session, record, now, started, batch, progress)
    finally:
        runs.ended(record.id)


def _run(collector, policies, session, record, now, started, batch, progress) -> PurgeRun:
    errors: list = []
    for target in targets(collector, policies, session, now):
        session.commit()  # release the service database while the sources are purged
        try:
            _purge(target, batch, progress, session, record)
        except Exception as exc:  # one failing rule must not stop the others
            session.rollback()
            errors.append(
                {
                    "rule": target.rule.id,
                    "table": target.table.name,
                    "error_type": type(exc).__name__,
                }
            )
            try:  # a batch in flight when it failed: count it now if the source can tell
                settle_pending(collector, session, record)
            except Exception:
                session.rollback()  # settled by recover_abandoned once the source answers
            continue
        add_count(record, target.rule.id, target.table.name, 0)  # a rule with nothing due shows 0
    documents = _expired_documents(collector, policies, session, now)
    if documents:
        session.execute(delete(IdentityDocument).where(IdentityDocument.id.in_(documents)))
    # Same transaction as the deletion above: the service's own rows are counted atomically.
    add_count(record, "identity_documents", "identity_documents", len(documents))
    # Evidence given for requests on someone else's behalf, once kept long enough after closing.
    evidence = purge_evidence(session, days=EVIDENCE_KEEP_DAYS, now=now)
    if evidence:
        add_count(record, "on_behalf_evidence", "request_evidence", evidence)
    for rule_id, tables in record.counts.items():
        if sum(tables.values()):
            audit.record(
                session,
                "retention.purged",
                actor="system:retention",
                details={"rule": rule_id, "rows": tables},
            )
    record.errors = errors
    record.status = "failed" if errors else "done"
    record.finished_at, record.seconds = utcnow(), round(time.monotonic() - started, 3)
    session.commit()
    return record


def _purge(target: Target, batch: int, progress, session: Session, record: PurgeRun) -> int:
    done = 0
    for n in batches.run(
        session,
        target.engine,
        target.t,
        joined=target.joined,
        where=target.where,
        size=batch,
        values=target.values,
        owner_kind="purge",
        owner_id=record.id,
        step=target.rule.id,
        source=target.source.name,
        table=target.table.name,
        action="delete" if target.values is None else "anonymise",
    ):
        add_count(record, target.rule.id, target.table.name, n)
        record.heartbeat_at = utcnow()
        session.commit()
        done += n
        if progress:
            progress(target.rule.id, n)
    return done


def _expired_documents(collector, policies, session, now: dt.datetime) -> list[str]:
    rule = policies.retention.identity_documents
    if rule is None:
        return []
    source = next(
        s
        for s in policies.datamap.sources.values()
        if s.kind == "sql" and rule.after_table in s.tables
    )
    held = set(
        session.scalars(
            select(LegalHold.subject_id).where(
                LegalHold.released_at.is_(None),
                LegalHold.until >= now.date(),
                or_(LegalHold.category.is_(None), LegalHold.category == "identity_documents"),
            )
        )
    )
    engine = collector.engines[source.name]
    limit = naive_if_sqlite(engine, now - dt.timedelta(days=rule.days))
    expired = []
    rows = session.execute(select(IdentityDocument.id, IdentityDocument.subject_id)).all()
    by_subject: dict[str, list[str]] = {}
    for doc_id, subject_id in rows:
        by_subject.setdefault(subject_id, []).append(doc_id)
    for subject_id, doc_ids in by_subject.items():
        if subject_id in held:
            continue
        subject = session.get(Subject, subject_id)
        key = collector.subject_key(source, subject)
        if key is None:
            continue
        joined, tables, where = collector.scope(source, source.tables[rule.after_table], key)
        cleared = tables[rule.after_table].c[rule.after_field]
        open_joined, open_tables, open_where = collector.scope(
            source, source.tables[rule.open_table], key
        )
        open_cond = and_(*(condition(open_tables[rule.open_table], c) for c in rule.open_when))
        with engine.connect() as conn:
            last, pending = conn.execute(
                select(func.max(cleared), func.count() - func.count(cleared))
                .select_from(joined)
                .where(where)
            ).one()
            open_orders = conn.execute(
                select(func.count()).select_from(open_joined).where(open_where, open_cond)
            ).scalar()
        if last is not None and not pending and not open_orders and last < limit:
            expired.extend(doc_ids)
    return expired


def explain(
    collector, policies, session, table_name: str, row_id, now: dt.datetime | None = None
) -> dict:
    """Why a row is kept, or when it goes: the rule, its trigger value and the date."""
    now = now or utcnow()
    for rule in policies.retention.rules:
        if table_name not in rule.tables:
            continue
        source = next(s for s in policies.datamap.sources.values() if table_name in s.tables)
        table = source.tables[table_name]
        joined, tables, root = collector.root(source, table)
        t = tables[table_name]
        pk = next(iter(t.primary_key.columns))
        trigger = tables[rule.trigger_table].c[rule.trigger_field]
        with collector.engines[source.name].connect() as conn:
            row = conn.execute(
                select(trigger, root).select_from(joined).where(pk == row_id)
            ).first()
        if row is None:
            return {"found": False}
        value, key = row
        held = key in _held_keys(collector, session, source, rule.category, now.date())
        if value is None:
            goes = None
        else:
            value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            goes = cutoff_inverse(value, rule.period)
        return {
            "found": True,
            "rule": rule.id,
            "action": rule.action,
            "basis": rule.basis,
            "trigger": {
                "field": f"{rule.trigger_table}.{rule.trigger_field}",
                "value": value.isoformat() if value else None,
            },
            "held": held,
            "goes_on": None if held or goes is None else goes.date().isoformat(),
            "due": bool(goes and goes <= now and not held),
        }
    return _explain_condition_keep(policies, table_name) or {
        "found": True,
        "rule": None,
        "note": "no retention rule covers this table",
    }


def _explain_condition_keep(policies, table_name: str) -> dict | None:
    # Rows kept while a condition holds (a gift card with a balance): no date, the condition.
    for code, category in policies.erasure.categories.items():
        for keep in category.keep:
            if table_name in keep.tables and not keep.anchor_table:
                return {
                    "found": True,
                    "rule": f"erasure.{code}",
                    "action": "keep",
                    "basis": keep.basis,
                    "kept_while": [f"{c.column} {c.op} {c.value}" for c in keep.when],
                    "held": False,
                    "goes_on": None,
                    "due": False,
                }
    return None
