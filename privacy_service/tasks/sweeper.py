"""The sweeper: due work whose task is missing goes back on the queue.

Tasks can go missing: the process died between the commit and the push, the broker was down,
or a worker was killed mid-task (the queue had already handed the task out). The database says
what is due; the sweeper compares that with the tasks waiting on the queue and enqueues the
rest. A duplicate is harmless: the task's claim finds nothing to do. Runs on schedule
(``tasks.sweep``) and when a worker starts.
"""

from __future__ import annotations

import logging

from sqlalchemy import and_, or_, select

from privacy_service.db import utcnow
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.tasks.models import TaskFailure
from privacy_service.tasks.queue import ERASURE, EXPORT

log = logging.getLogger(__name__)
LIMIT = 1000


def due_work(session, max_attempts: int) -> list[tuple[str, str]]:
    """(kind, request id) of every export and erasure that a worker could claim now."""
    now = utcnow()
    exports = session.scalars(
        select(ExportArchive.request_id)
        .where(
            or_(
                ExportArchive.status == ExportArchive.QUEUED,
                and_(
                    ExportArchive.status == ExportArchive.BUILDING,
                    ExportArchive.lease_until < now,
                ),
            ),
            ExportArchive.attempts < max_attempts,
        )
        .order_by(ExportArchive.queued_at)
        .limit(LIMIT)
    ).all()
    failed = select(TaskFailure.request_id).where(
        TaskFailure.kind == ERASURE, TaskFailure.permanent.is_(True)
    )
    erasures = session.scalars(
        select(DataRequest.id)
        .where(
            DataRequest.type.in_(("deletion", "account_closure")),
            DataRequest.status == lifecycle.IN_PROGRESS,
            or_(DataRequest.claim_until.is_(None), DataRequest.claim_until < now),
            DataRequest.id.not_in(failed),
        )
        .order_by(DataRequest.received_at)
        .limit(LIMIT)
    ).all()
    return [(EXPORT, r) for r in exports] + [(ERASURE, r) for r in erasures]


def sweep(rt, queue) -> int:
    """Enqueue due work that has no waiting task; returns how many tasks were enqueued."""
    session = rt.db.new_session()
    try:
        due = due_work(session, rt.settings.export_max_attempts)
        session.commit()
    finally:
        session.close()
    if not due:
        return 0
    waiting = queue.waiting()
    missing = [item for item in due if item not in waiting]
    for kind, request_id in missing:
        queue.enqueue(kind, request_id)
    if missing:
        log.info("sweeper enqueued missing tasks", extra={"count": len(missing)})
    return len(missing)
