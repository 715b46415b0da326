"""Failed background tasks as the privacy team sees them, and the retry they can ask for.

An export's failure lives on its archive row (``failed`` with the error type); a deletion's or
closure's lives in ``task_failures``. Either way the staff page shows the kind, the attempts, the
error type (never a message: it may quote personal data) and, once final, a retry button.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.db import utcnow
from privacy_service.errors import Conflict
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.tasks.dispatch import on_commit
from privacy_service.tasks.models import TaskFailure

EXPORT_FAILED = "export_failed"


@dataclasses.dataclass(frozen=True)
class FailureView:
    """One failing task of a request."""

    kind: str
    attempts: int
    error: str
    permanent: bool
    at: dt.datetime | None


def is_permanent(session: Session, request_id: str, kind: str) -> bool:
    """Whether the task of ``kind`` for the request failed for good (the sweeper leaves it)."""
    return bool(
        session.scalar(
            select(TaskFailure.permanent).where(
                TaskFailure.request_id == request_id, TaskFailure.kind == kind
            )
        )
    )


def record_erasure(new_session, request_id: str, holder: str, exc: Exception, max_attempts: int):
    """Count a failed erasure attempt and release its claim; returns (attempts, permanent)."""
    session = new_session()
    try:
        failure = session.get(TaskFailure, (request_id, "erasure"))
        attempts = (failure.attempts if failure else 0) + 1
        permanent = attempts >= max_attempts
        if failure is None:
            failure = TaskFailure(request_id=request_id, kind="erasure")
            session.add(failure)
        failure.attempts, failure.permanent = attempts, permanent
        failure.error, failure.failed_at = type(exc).__name__, utcnow()
        request = session.get(DataRequest, request_id)
        if request is not None and request.claimed_by == holder:
            request.claim_until = None  # the retry may claim it at once
        audit.record(
            session,
            "task.failed",
            actor="worker",
            request_id=request_id,
            subject_id=request.subject_id if request else None,
            details={
                "task": "erasure",
                "attempt": attempts,
                "permanent": permanent,
                "error_type": type(exc).__name__,
            },
        )
        session.commit()
        return attempts, permanent
    finally:
        session.close()


def clear(new_session, request_id: str, kind: str) -> None:
    """Forget a task's failures once it succeeded."""
    session = new_session()
    try:
        session.execute(
            delete(TaskFailure).where(
                TaskFailure.request_id == request_id, TaskFailure.kind == kind
            )
        )
        session.commit()
    finally:
        session.close()


def for_request(session: Session, request: DataRequest) -> list[FailureView]:
    """Every failing task of ``request`` (exports and erasures)."""
    found = []
    archive = session.get(ExportArchive, request.id)
    if (
        archive is not None
        and archive.error
        and archive.status
        in (
            ExportArchive.FAILED,
            ExportArchive.QUEUED,
        )
    ):
        found.append(
            FailureView(
                "export",
                archive.attempts,
                archive.error,
                archive.status == ExportArchive.FAILED,
                None,
            )
        )
    for failure in session.scalars(select(TaskFailure).where(TaskFailure.request_id == request.id)):
        found.append(
            FailureView(
                failure.kind, failure.attempts, failure.error, failure.permanent, failure.failed_at
            )
        )
    return found


def retryable(session: Session, request: DataRequest) -> bool:
    """Whether the request has a task that failed for good and may run again."""
    if request.status in lifecycle.TERMINAL:
        return False
    return any(f.permanent for f in for_request(session, request))


def retry(session: Session, request: DataRequest, *, actor: str) -> str:
    """Run a failed task again from its first attempt (audited); the caller commits.

    The task is enqueued when the transaction commits (``tasks.dispatch``).
    """
    if not retryable(session, request):
        raise Conflict(
            "This request has no failed task to retry.", slug="nothing-to-retry", title="No retry"
        )
    archive = session.get(ExportArchive, request.id)
    if archive is not None and archive.status == ExportArchive.FAILED:
        kind = "export"
        archive.status, archive.attempts, archive.error = ExportArchive.QUEUED, 0, None
        archive.lease_until = None
        request.reasons = [r for r in request.reasons or [] if r.get("code") != EXPORT_FAILED]
    else:
        kind = "erasure"
        session.execute(
            delete(TaskFailure).where(
                TaskFailure.request_id == request.id, TaskFailure.kind == kind
            )
        )
        request.claim_until = None
        on_commit(session, kind, request.id)
    audit.record(
        session,
        "task.retried",
        actor=actor,
        request_id=request.id,
        subject_id=request.subject_id,
        details={"task": kind},
    )
    return kind
