"""Task bodies: claim the row (the guard against doing work twice), do it, record a failure.

A task names one request. Its body claims that request's work in the database first; a task
whose work is already done, claimed by a live worker, or closed does nothing. A transient
failure is retried by the queue after a growing delay (``task_retry_seconds`` doubled per
attempt); after ``export_max_attempts`` attempts it stays failed, shown to the privacy team on
the request's page with a retry button.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from huey.exceptions import RetryTask
from sqlalchemy import select

from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.tasks import failures

log = logging.getLogger(__name__)
HOST = f"{socket.gethostname()}:{os.getpid()}"


def worker_id() -> str:
    """A claim holder unique to one run of one task (threads of a process differ too)."""
    return f"{HOST}:{uuid.uuid4().hex[:8]}"


def backoff(rt, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: the base delay doubled per failed attempt."""
    return rt.settings.task_retry_seconds * 2 ** max(0, attempts - 1)


def build_export(rt, queue, request_id: str) -> str:
    """Claim and build one export; a transient failure is retried after a backoff."""
    from exports import worker

    deps = rt.export_deps()
    holder = worker_id()
    session = deps.new_session()
    try:
        if (
            worker.claim(
                session, holder, deps.lease_seconds, deps.max_attempts, request_id=request_id
            )
            is None
        ):
            return "skipped"
    finally:
        session.close()
    if worker.build_one(deps, request_id, holder):
        return "built"
    session = deps.new_session()
    try:
        archive = session.get(ExportArchive, request_id)
        status, attempts = archive.status, archive.attempts
    finally:
        session.close()
    if status == ExportArchive.QUEUED:  # transient: build_one put it back in the queue
        raise RetryTask("export attempt failed", delay=backoff(rt, attempts))
    return "failed"


def carry_out_erasure(rt, queue, request_id: str) -> str:
    """Claim and carry out one deletion or closure; failures are recorded and retried."""
    from retention import processor

    deps = rt.erasure_deps()
    holder = worker_id()
    session = deps.new_session()
    try:
        if failures.is_permanent(session, request_id, "erasure"):
            return "failed"
        if processor.claim(session, holder, deps.lease_seconds, request_id=request_id) is None:
            return "skipped"
    finally:
        session.close()
    try:
        processor.carry_out(deps, request_id, holder)
    except Exception as exc:
        attempts, permanent = failures.record_erasure(
            deps.new_session, request_id, holder, exc, rt.settings.export_max_attempts
        )
        log.warning(
            "erasure failed",
            extra={
                "request_id": request_id,
                "attempt": attempts,
                "permanent": permanent,
                "error_type": type(exc).__name__,
            },
        )
        if permanent:
            return "failed"
        raise RetryTask("erasure attempt failed", delay=backoff(rt, attempts)) from None
    failures.clear(deps.new_session, request_id, "erasure")
    return "done"


def notify_export_ready(rt, queue, request_id: str) -> str:
    """Tell the customer their export is ready (the contact is read here, never queued)."""
    session = rt.db.new_session()
    try:
        request = session.scalars(select(DataRequest).where(DataRequest.id == request_id)).first()
        archive = session.get(ExportArchive, request_id)
        if request is None or archive is None or archive.status != ExportArchive.READY:
            return "skipped"
        rt.notifier.send_export_ready(
            channel=request.contact_kind,
            to=request.contact,
            request_id=request.id,
            days=rt.settings.export_ttl_days,
            downloads=rt.settings.export_max_downloads,
        )
        session.commit()
    finally:
        session.close()
    rt.notifier.wait()
    return "sent"


BODIES = {"export": build_export, "erasure": carry_out_erasure, "notice": notify_export_ready}
