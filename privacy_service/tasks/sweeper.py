"""The sweeper: due work whose task is missing goes back on the queue.

Tasks can go missing: the process died between the commit and the push, the broker was down,
or a worker was killed mid-task (the queue had already handed the task out: an export, a
notice it was sending). The database says what is due and from when; the sweeper compares
that with the tasks waiting on the queue and enqueues the rest, each to start when its claim
can be taken (at once, or when a dead worker's lease runs out). A duplicate is harmless: the
task's claim finds nothing to do. Runs on schedule (``tasks.sweep``) and when a worker starts.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from privacy_service.notices import outbox
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.requests.resolve import OPEN
from privacy_service.tasks.dispatch import seconds_until
from privacy_service.tasks.kinds import ERASURE, EXPORT, IDENTITY, NOTICE
from privacy_service.tasks.models import TaskFailure

log = logging.getLogger(__name__)
LIMIT = 1000


def due_work(session, max_attempts: int) -> list[tuple[str, str, float]]:
    """(kind, id, seconds until claimable) of every open export, erasure, lookup and notice.

    The id is a request's, or for a notice its outbox batch's.
    """
    exports = session.execute(
        select(ExportArchive.request_id, ExportArchive.status, ExportArchive.lease_until)
        .where(
            ExportArchive.status.in_((ExportArchive.QUEUED, ExportArchive.BUILDING)),
            ExportArchive.attempts < max_attempts,
        )
        .order_by(ExportArchive.queued_at)
        .limit(LIMIT)
    ).all()
    failed = select(TaskFailure.request_id).where(
        TaskFailure.kind == ERASURE, TaskFailure.permanent.is_(True)
    )
    erasures = session.execute(
        select(DataRequest.id, DataRequest.claim_until)
        .where(
            DataRequest.type.in_(("deletion", "account_closure", "correction")),
            DataRequest.status == lifecycle.IN_PROGRESS,
            DataRequest.id.not_in(failed),
        )
        .order_by(DataRequest.received_at)
        .limit(LIMIT)
    ).all()
    lookups = session.execute(
        select(DataRequest.id, DataRequest.identity_next_at)
        .where(DataRequest.identity_status.in_(OPEN))
        .order_by(DataRequest.received_at)
        .limit(LIMIT)
    ).all()
    return (
        [
            (EXPORT, rid, 0.0 if status == ExportArchive.QUEUED else seconds_until(lease))
            for rid, status, lease in exports
        ]
        + [(ERASURE, rid, seconds_until(claim)) for rid, claim in erasures]
        + [(IDENTITY, rid, seconds_until(next_at)) for rid, next_at in lookups]
        + [(NOTICE, batch, seconds_until(at)) for batch, at in outbox.due(session, LIMIT)]
    )


def sweep(rt, queue) -> int:
    """Enqueue open work that has no waiting task; returns how many tasks were enqueued."""
    session = rt.db.new_session()
    try:
        due = due_work(session, rt.settings.export_max_attempts)
        session.commit()
    finally:
        session.close()
    if not due:
        return 0
    waiting = queue.waiting()
    missing = [(kind, rid, delay) for kind, rid, delay in due if (kind, rid) not in waiting]
    for kind, request_id, delay in missing:
        queue.enqueue(kind, request_id, delay)
    if missing:
        log.info("sweeper enqueued missing tasks", extra={"count": len(missing)})
    return len(missing)
