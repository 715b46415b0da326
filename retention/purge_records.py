"""The record of each retention pass (``PurgeRun``), while it works and after its process died.

``status`` is ``running`` while a process executes it (``holder``, refreshed ``heartbeat_at``),
then ``done``, ``failed`` (a rule raised; the others ran) or ``interrupted`` (its process died;
``counts`` then says what it had removed, batch by batch, before it died).

Counts grow with every settled batch (``privacy_service.batches``); a run whose process died is
closed as ``interrupted`` with them (``recover_abandoned``), and batches a run could not count
are counted when the source can tell.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import JSON, Boolean, Float, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit, batches, runs
from privacy_service.db import ID, Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)


class PurgeRun(Base):
    """One pass of the retention engine (or a dry run)."""

    __tablename__ = "purge_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    counts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    errors: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    seconds: Mapped[float | None] = mapped_column(Float)
    holder: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


def add_count(record: PurgeRun, rule_id: str, table: str, rows: int) -> None:
    """Add ``rows`` to the run's count for (rule, table); the caller commits."""
    # JSON columns track assignment, not mutation: assign a new dict.
    counts = {k: dict(v) for k, v in (record.counts or {}).items()}
    tables = counts.setdefault(rule_id, {})
    tables[table] = tables.get(table, 0) + rows
    record.counts = counts


def settle_pending(collector, session: Session, record: PurgeRun) -> int:
    """Count the run's batches whose outcome was never recorded, from the source; commits."""
    recovered = 0
    for entry in batches.pending(session, "purge", record.id):
        n = batches.recover(session, collector, entry)
        add_count(record, entry.step, entry.table_name, n)
        recovered += n
    session.commit()
    return recovered


def recover_abandoned(collector, session: Session) -> list[PurgeRun]:
    """Close runs whose process died as ``interrupted``, with what they removed; audits each.

    Called before every run and when a worker starts. A run whose batches cannot be checked
    now (its source is down) stays ``running`` and is tried again next time.
    """
    closed = []
    running = (
        select(PurgeRun)
        .where(PurgeRun.status == "running")
        .execution_options(populate_existing=True)
    )
    for record in session.scalars(running).all():
        if not runs.abandoned(record.id, record.holder, record.heartbeat_at):
            continue
        try:
            recovered = settle_pending(collector, session, record)
        except Exception as exc:
            session.rollback()
            log.warning(
                "interrupted purge run not closed yet",
                extra={"run": record.id, "error_type": type(exc).__name__},
            )
            continue
        record.status, record.finished_at = "interrupted", utcnow()
        audit.record(
            session,
            "retention.interrupted",
            actor="system:retention",
            details={
                "run": record.id,
                "rows": record.counts,
                "recovered_rows": recovered,
                "last_heartbeat_at": record.heartbeat_at.isoformat()
                if record.heartbeat_at
                else None,
            },
        )
        session.commit()
        closed.append(record)
    _settle_finished(collector, session)
    return closed


def _settle_finished(collector, session: Session) -> None:
    """Batches a finished (failed) run could not count when it ended: count and audit them."""
    owners = session.scalars(
        select(batches.WorkBatch.owner_id)
        .join(PurgeRun, PurgeRun.id == batches.WorkBatch.owner_id)
        .where(
            batches.WorkBatch.owner_kind == "purge",
            batches.WorkBatch.status == batches.PENDING,
            PurgeRun.status != "running",
        )
        .distinct()
    ).all()
    for run_id in owners:
        record = session.get(PurgeRun, run_id)
        before = {k: dict(v) for k, v in record.counts.items()}
        try:
            recovered = settle_pending(collector, session, record)
        except Exception:
            session.rollback()
            continue
        rows = {
            rule: {t: n - before.get(rule, {}).get(t, 0) for t, n in tables.items()}
            for rule, tables in record.counts.items()
        }
        audit.record(
            session,
            "retention.recovered",
            actor="system:retention",
            details={"run": run_id, "recovered_rows": recovered, "rows": rows},
        )
        session.commit()
