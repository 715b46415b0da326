"""Enqueue on commit: work a transaction makes due goes on the queue once that transaction commits.

Listeners on the runtime's session factory notice, at flush, the rows that make work due:

* an export archive becoming ``queued`` with no attempt yet (verification, a staff retry);
* a deletion or account closure becoming ``in_progress`` (approval, the end of a cooling-off);
* a correction whose approval left a source failed (``requests/corrections.py``), at the end of
  its pause;
* a new request whose contact waits to be looked up in the shop's sources;
* the first message of an outbox batch (``notices.outbox``): the batch is sent.

Other work (a staff retry of an erasure, a source marked not applicable) is named with
``on_commit``.
The tasks are pushed after the commit, never before (a worker must find the rows it is told
about) and never after a rollback. If the process dies between commit and push, or the broker
is down, the sweeper (``tasks.sweeper``) finds the due work and enqueues it again.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from privacy_service.db import utcnow
from privacy_service.notices.outbox import OutboxMessage
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.tasks.kinds import ERASURE, EXPORT, IDENTITY, NOTICE

log = logging.getLogger(__name__)
KEY = "privacy.tasks"
ERASURE_TYPES = ("deletion", "account_closure")


def seconds_until(moment: dt.datetime | None) -> float:
    """Seconds from now until ``moment`` (0 when it has passed or is unknown)."""
    return max(0.0, (moment - utcnow()).total_seconds()) if moment else 0.0


def on_commit(session: Session, kind: str, request_id: str, delay: float = 0) -> None:
    """Enqueue ``kind`` for ``request_id`` once ``session``'s transaction commits."""
    session.info.setdefault(KEY, {})[(kind, request_id)] = delay


def install(session_factory, queue) -> None:
    """Listen on ``session_factory`` (a sessionmaker): its commits enqueue on ``queue``."""

    def after_flush(session, _context):
        for obj in [*session.new, *session.dirty]:
            for kind, request_id in _due(obj):
                on_commit(session, kind, request_id)
            if _correction_waits(obj):  # approved, a source left: when its pause ends
                on_commit(session, ERASURE, obj.id, seconds_until(obj.claim_until))

    def after_commit(session):
        due = session.info.pop(KEY, None)
        for (kind, request_id), delay in (due or {}).items():
            try:
                queue.enqueue(kind, request_id, delay)
            except Exception as exc:  # the broker is down: the sweeper will enqueue it
                log.warning(
                    "enqueue failed; the sweeper will retry",
                    extra={
                        "task": kind,
                        "request_id": request_id,
                        "error_type": type(exc).__name__,
                    },
                )

    def after_rollback(session):
        session.info.pop(KEY, None)

    event.listen(session_factory, "after_flush", after_flush)
    event.listen(session_factory, "after_commit", after_commit)
    event.listen(session_factory, "after_rollback", after_rollback)


def _due(obj) -> list[tuple[str, str]]:
    """The (kind, request id) of work that ``obj``'s change makes due (a notice: its batch)."""
    if isinstance(obj, OutboxMessage):
        return [(NOTICE, obj.batch_id)] if obj.position == 0 and inspect(obj).pending else []
    if isinstance(obj, ExportArchive):
        if obj.status == ExportArchive.QUEUED and not obj.attempts and _changed(obj, "status"):
            return [(EXPORT, obj.request_id)]
        return []
    if not isinstance(obj, DataRequest):
        return []
    due = []
    erasing = obj.type in ERASURE_TYPES and obj.status == lifecycle.IN_PROGRESS
    if erasing and _changed(obj, "status"):
        due.append((ERASURE, obj.id))
    if inspect(obj).pending and obj.identity_status == "pending":
        due.append((IDENTITY, obj.id))
    return due


def _correction_waits(obj) -> bool:
    """A correction whose approval left a source to retry (``requests/corrections.py``).

    The worker's own passes (``claimed_by`` set) are retried by their task.
    """
    return (
        isinstance(obj, DataRequest)
        and obj.type == "correction"
        and obj.status == lifecycle.IN_PROGRESS
        and obj.claimed_by is None
        and obj.claim_until is not None
        and _changed(obj, "claim_until")
    )


def _changed(obj, attr: str) -> bool:
    state = inspect(obj)
    return state.pending or bool(state.attrs[attr].history.added)
