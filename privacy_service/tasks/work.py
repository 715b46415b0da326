"""Task bodies: claim the row (the guard against doing work twice), do it, record a failure.

A task names one request. Its body claims that request's work in the database first; a task
whose work is already done, claimed by a live worker, or closed does nothing. A transient
failure is retried by the queue after a growing delay (``task_retry_seconds`` doubled per
attempt); after ``export_max_attempts`` attempts it stays failed, shown to the privacy team on
the request's page with a retry button. A source that is down is not a failure of the task:
the work waits for the delay the database records (an export's lease, an erasure's claim, a
lookup's next try) and the task comes back then.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from huey.exceptions import RetryTask

from exports import worker
from privacy_service.notices import outbox
from privacy_service.requests import resolve
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.tasks import failures
from privacy_service.tasks.dispatch import seconds_until
from retention import processor

log = logging.getLogger(__name__)
HOST = f"{socket.gethostname()}:{os.getpid()}"


def worker_id() -> str:
    """A claim holder unique to one run of one task (threads of a process differ too)."""
    return f"{HOST}:{uuid.uuid4().hex[:8]}"


def backoff(rt, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: the base delay doubled per failed attempt."""
    return rt.settings.task_retry_seconds * 2 ** max(0, attempts - 1)


def build_export(rt, queue, request_id: str) -> str:
    """Claim and build one export; a failure is retried after a backoff, an outage later."""
    deps = rt.export_deps()
    holder = worker_id()
    session = deps.new_session()
    try:
        claimed = worker.claim(
            session, holder, deps.lease_seconds, deps.max_attempts, request_id=request_id
        )
        if claimed is None:
            return "skipped"
    finally:
        session.close()
    try:
        if worker.build_one(deps, request_id, holder):
            return "built"
    finally:
        queue.clear_progress(request_id)
    session = deps.new_session()
    try:
        archive = session.get(ExportArchive, request_id)
        status, attempts = archive.status, archive.attempts
        postponed = archive.claimed_by == holder and status == ExportArchive.BUILDING
        wait = seconds_until(archive.lease_until)
    finally:
        session.close()
    if status == ExportArchive.QUEUED:  # transient: build_one put it back in the queue
        raise RetryTask("export attempt failed", delay=backoff(rt, attempts))
    if postponed:  # a source is down: the lease is the delay (steps.postpone_export)
        raise RetryTask("export waits for a source", delay=wait)
    return "failed"


def carry_out_erasure(rt, queue, request_id: str) -> str:
    """Claim and carry out one deletion or closure; failures are recorded and retried."""
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
        done = processor.carry_out(deps, request_id, holder)
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
    if not done:  # a source is down: the claim runs until the retry (retry_failed_sources)
        session = deps.new_session()
        try:
            wait = seconds_until(session.get(DataRequest, request_id).claim_until)
        finally:
            session.close()
        raise RetryTask("erasure waits for a source", delay=wait)
    failures.clear(deps.new_session, request_id, "erasure")
    return "done"


def look_up_identity(rt, queue, request_id: str) -> str:
    """Look a new request's contact up in the shop's sources; a source down is tried later."""
    sent = resolve.resolve_and_send(rt, request_id)
    session = rt.db.new_session()
    try:
        request = session.get(DataRequest, request_id)
        retrying = request is not None and request.identity_status == resolve.RETRYING
        wait = seconds_until(request.identity_next_at) if retrying else 0
    finally:
        session.close()
    if retrying:
        raise RetryTask("identity lookup waits for a source", delay=wait)
    return "sent" if sent else "done"


def deliver_notices(rt, queue, batch_id: str) -> str:
    """Claim one outbox batch and send its messages in order, marking each sent once.

    A channel that fails (the mail server down) is retried after a growing delay
    (``PRIVACY_TASK_RETRY_SECONDS`` doubled per attempt, at most 10 min) until
    ``PRIVACY_NOTICE_MAX_ATTEMPTS``; the batch's later messages wait with it, keeping their order.
    """
    s = rt.settings
    holder = worker_id()
    session = rt.db.new_session()
    try:
        messages = outbox.claim(session, batch_id, holder, s.notice_lease_seconds)
        if not messages:
            return "skipped"
        for message in messages:
            try:
                rt.notifier.send(
                    message.channel, message.to, message.subject, message.text, message.request_id
                )
            except Exception as exc:
                delay = outbox.record_failure(
                    session,
                    batch_id,
                    message.id,
                    holder,
                    exc,
                    base_seconds=s.task_retry_seconds,
                    max_attempts=s.notice_max_attempts,
                )
                log.warning(
                    "message delivery failed",
                    extra={
                        "channel": message.channel,
                        "request_id": message.request_id or "team",
                        "error_type": type(exc).__name__,
                        "permanent": delay is None,
                    },
                )
                if delay is not None:
                    raise RetryTask("notice waits for its channel", delay=delay) from None
                continue
            # A crash right here sends this message again once the claim expires: at least once.
            outbox.mark_sent(session, message.id, holder)
        return "sent"
    finally:
        session.close()


BODIES = {
    "export": build_export,
    "erasure": carry_out_erasure,
    "identity": look_up_identity,
    "notice": deliver_notices,
}
