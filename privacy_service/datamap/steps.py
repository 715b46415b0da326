"""Per-source steps of a request: what each source system did for it, and whether it is done.

Every action on a source (``lookup`` of the contact, ``access``, ``correction``, ``deletion``,
``closure``) has one row per (request, source, action): started, rows touched, finished or failed
with the error's type, how many attempts, and, when an operator decides a source does not apply,
their reason (audited). The staff request page and the customer's receipt show them. A failed
source never undoes the others' work; callers retry it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit
from privacy_service.datamap.http_source import HttpSourceError
from privacy_service.db import ID, Base, UTCDateTime, utcnow
from privacy_service.errors import Conflict

STARTED, DONE, FAILED, NOT_APPLICABLE = "started", "done", "failed", "not_applicable"
SETTLED = (DONE, NOT_APPLICABLE)
ACTIONS = {
    "access": "access",
    "correction": "correction",
    "deletion": "deletion",
    "account_closure": "closure",
}


class SourceStep(Base):
    """One action of one request on one source."""

    __tablename__ = "source_steps"
    __table_args__ = (UniqueConstraint("request_id", "source", "action"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), nullable=False
    )
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The error's type only (its message may quote data).
    error: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


def _step(session: Session, request_id: str, source: str, action: str) -> SourceStep:
    step = session.scalars(
        select(SourceStep).where(
            SourceStep.request_id == request_id,
            SourceStep.source == source,
            SourceStep.action == action,
        )
    ).one_or_none()
    if step is None:
        step = SourceStep(request_id=request_id, source=source, action=action, status=STARTED)
        session.add(step)
    return step


def started(session: Session, request_id: str, source: str, action: str) -> SourceStep | None:
    """Record an attempt starting; None when the step is already settled (nothing to do)."""
    step = _step(session, request_id, source, action)
    if step.status in SETTLED:
        return None
    step.status, step.error = STARTED, None
    step.attempts = (step.attempts or 0) + 1
    step.started_at, step.finished_at = utcnow(), None
    return step


def finished(session: Session, request_id: str, source: str, action: str, rows: int) -> None:
    """Record a step done with the rows (or records) it touched."""
    step = _step(session, request_id, source, action)
    step.status, step.rows, step.error = DONE, int(rows), None
    step.attempts = step.attempts or 1
    step.finished_at = utcnow()


def failed(session: Session, request_id: str, source: str, action: str, exc):
    """Record a failed attempt: the error's type (or a given type name), never its message."""
    step = _step(session, request_id, source, action)
    name = exc if isinstance(exc, str) else type(exc).__name__
    step.status, step.error = FAILED, name[:200]
    step.attempts = step.attempts or 1
    step.finished_at = utcnow()
    audit.record(
        session,
        "source.step_failed",
        actor="worker",
        request_id=request_id,
        details={"source": source, "action": action, "error_type": step.error},
    )


def mark_not_applicable(
    session: Session, request_id: str, source: str, action: str, *, reason: str, actor: str
) -> SourceStep:
    """An operator decides a source does not apply to this request; audited with the reason."""
    step = _step(session, request_id, source, action)
    step.status, step.reason, step.decided_by = NOT_APPLICABLE, reason, actor
    step.finished_at = utcnow()
    audit.record(
        session,
        "source.not_applicable",
        actor=actor,
        request_id=request_id,
        details={"source": source, "action": action},
    )
    return step


def retry_now(session: Session, request, *, actor: str) -> list[str]:
    """Try a request's failed sources again at the worker's next run, not after the pause.

    Only while the request is in progress and no pass is running (a step ``started``: two
    passes at once could both write). Returns the sources to be retried; audited. Caller commits.
    """
    current = [s for s in for_request(session, request.id) if s.action != "lookup"]
    if request.status != "in_progress" or not any(s.status == FAILED for s in current):
        raise Conflict("Nothing to retry: no source of this request has failed.", slug="no-retry")
    if any(s.status == STARTED for s in current):
        raise Conflict("A pass over the sources is running; wait for it.", slug="pass-running")
    failed_sources = sorted({s.source for s in current if s.status == FAILED})
    request.claim_until = None  # the worker claims it at its next run
    audit.record(
        session,
        "source.retry_requested",
        actor=actor,
        request_id=request.id,
        details={"sources": failed_sources},
    )
    return failed_sources


def for_request(session: Session, request_id: str) -> list[SourceStep]:
    """Every step of a request, by action then source."""
    return list(
        session.scalars(
            select(SourceStep)
            .where(SourceStep.request_id == request_id)
            .order_by(SourceStep.action, SourceStep.source)
        )
    )


def settled(session: Session, request_id: str, source: str, action: str) -> bool:
    """True when the step is done or marked not applicable."""
    step = session.scalars(
        select(SourceStep.status).where(
            SourceStep.request_id == request_id,
            SourceStep.source == source,
            SourceStep.action == action,
        )
    ).one_or_none()
    return step in SETTLED


def summary(session: Session, request_id: str) -> list[dict]:
    """The steps as the customer's receipt shows them (no personal data)."""
    return [
        {
            "source": s.source,
            "action": s.action,
            "status": s.status,
            "rows": s.rows,
            "attempts": s.attempts,
            "error": s.error,
            "reason": s.reason,
            "finished_at": s.finished_at.isoformat() if s.finished_at else None,
        }
        for s in for_request(session, request_id)
    ]


def not_applicable(session: Session, request_id: str, action: str) -> list[str]:
    """Sources an operator marked not applicable for this action of the request."""
    return list(
        session.scalars(
            select(SourceStep.source).where(
                SourceStep.request_id == request_id,
                SourceStep.action == action,
                SourceStep.status == NOT_APPLICABLE,
            )
        )
    )


def retry_delay(attempts: int) -> int:
    """Seconds before trying a failed source again: 15 s doubling, at most 10 minutes."""
    return min(600, 15 * 2 ** max(0, attempts - 1))


class Tally:
    """Rows read per source while a request's data is collected, and the source being read."""

    def __init__(self, skip: list[str] | tuple[str, ...] = ()):
        self.rows: dict[str, int] = {}
        self.current: str | None = None
        self.skip = tuple(skip)
        self.outage: tuple[str, int] | None = None  # (source, its failed attempts) when down
        self._passes: dict[tuple, int] = {}

    def _enter(self, source: str) -> None:
        self.current = source
        self.rows.setdefault(source, 0)

    def collect(self, collector, session, subject, categories=None, **kwargs):
        """``collector.collect`` with every batch counted against its source.

        The export reads a category once per file (JSON, CSV, pages): each (source, category)
        counts its largest pass, not their sum.
        """
        counts: dict[str, int] = {}
        key = tuple(categories or ())
        try:
            for batch in collector.collect(
                session,
                subject,
                categories=categories,
                on_source=self._enter,
                skip_sources=self.skip,
                **kwargs,
            ):
                counts[batch.source] = counts.get(batch.source, 0) + len(batch.rows)
                yield batch
            self.current = None
        finally:
            for source, n in counts.items():
                self._passes[(source, key)] = max(self._passes.get((source, key), 0), n)
                self.rows[source] = sum(v for (s, _), v in self._passes.items() if s == source)

    def record(self, session: Session, request_id: str, action: str, exc=None) -> None:
        """Record each source's step: done with its rows, or the one that failed."""
        for source, rows in self.rows.items():
            if exc is not None and source == self.current:
                step = started(session, request_id, source, action) or _step(
                    session, request_id, source, action
                )
                failed(session, request_id, source, action, exc)
                if isinstance(exc, SQLAlchemyError | HttpSourceError):
                    # The source's database failed, not the export: retry it later, without
                    # using up the export's attempts.
                    self.outage = (source, step.attempts)
            elif exc is None:
                started(session, request_id, source, action)
                finished(session, request_id, source, action, rows)
