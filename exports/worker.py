"""Building exports in the background: claim, build, store encrypted, complete, notify.

One archive row per access request. A worker claims a queued row (or one whose lease ran out,
because its worker died) with a conditional UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
so two workers never build the same export. The archive is written under a key unique to the
attempt, through a temporary file renamed only when complete; completion is recorded only if
this worker still holds the claim. Failures are retried a bounded number of times; then the
request shows the failure with a reason. No Flask imports: jobs, the CLI and tests call this.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import socket
from collections.abc import Callable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from exports.assemble import BATCH_ROWS, build, export_style, plan_categories
from exports.storage import Storage
from privacy_service import audit
from privacy_service.crypto.stream import SealedWriter
from privacy_service.datamap import steps
from privacy_service.db import claim_one, utcnow
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.subjects.scope import for_request

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
FAILED_REASON = {
    "code": "export_failed",
    "zh-CN": "生成您的数据副本时出错，隐私团队已收到通知，会尽快处理。",
    "en": "We could not build your data export; the privacy team has been told and will follow up.",
}


@dataclasses.dataclass
class ExportDeps:
    """What building an export needs; the composition root (app, CLI, tests) provides it."""

    new_session: Callable[[], Session]
    vault: object
    policies: object
    collector: object
    storage: Storage
    ttl_days: int = 7
    max_downloads: int = 5
    max_attempts: int = 3
    lease_seconds: int = 900
    notify_ready: Callable[[DataRequest], None] | None = None
    # progress(request_id, categories written): what the customer's page shows while building.
    progress: Callable[[str, int], None] | None = None


def claim(
    session: Session,
    worker: str,
    lease_seconds: int,
    max_attempts: int,
    *,
    request_id: str | None = None,
) -> str | None:
    """Take one buildable export (queued, or abandoned by a dead worker); returns its request id.

    ``request_id`` limits the claim to that request's export (a queued task names it).
    """
    now = utcnow()
    only = () if request_id is None else (ExportArchive.request_id == request_id,)
    candidates = (
        select(ExportArchive.request_id)
        .where(
            *only,
            or_(
                ExportArchive.status == ExportArchive.QUEUED,
                (ExportArchive.status == ExportArchive.BUILDING)
                & (ExportArchive.lease_until < now),
            ),
            ExportArchive.attempts < max_attempts,
        )
        .order_by(ExportArchive.queued_at)
        .limit(1)
    )
    return claim_one(
        session,
        candidates,
        lambda request_id: (
            update(ExportArchive)
            .where(
                ExportArchive.request_id == request_id,
                ExportArchive.status.in_((ExportArchive.QUEUED, ExportArchive.BUILDING)),
            )
            .values(
                status=ExportArchive.BUILDING,
                claimed_by=worker,
                attempts=ExportArchive.attempts + 1,
                lease_until=now + dt.timedelta(seconds=lease_seconds),
            )
        ),
    )


def build_one(deps: ExportDeps, request_id: str, worker: str = WORKER_ID) -> bool:
    """Build, store and complete one claimed export; False if it failed (and was re-queued)."""
    session = deps.new_session()
    try:
        request = session.get(DataRequest, request_id)
        archive = session.get(ExportArchive, request_id)
        if request.status not in (lifecycle.VERIFIED, lifecycle.IN_PROGRESS):
            archive.status, archive.error = ExportArchive.FAILED, "request_closed"
            session.commit()  # cancelled (or closed) before a worker got to it
            return False
        if request.status == lifecycle.VERIFIED:
            lifecycle.transition(session, request, lifecycle.IN_PROGRESS, actor="worker")
        subject = for_request(session, request)
        aead = deps.vault.data_key(session, subject.id)
        session.commit()  # release the service database while building (SQLite write lock)
        key = f"{request_id}-{archive.attempts}.zip.sealed"
        built_at = utcnow()
        tally = steps.Tally(skip=steps.not_applicable(session, request_id, "access"))
        try:
            digest, size, manifest = _write(
                deps, session, request, subject, aead, key, built_at, tally
            )
        except Exception as exc:
            session.rollback()
            tally.record(session, request_id, "access", exc)
            session.commit()
            if tally.outage:
                _postpone(session, request_id, worker, tally.outage, exc)
                return False
            raise
        tally.record(session, request_id, "access")
        records = sum(sum(t.values()) for t in manifest.counts.values())
        if not _complete(deps, session, request_id, worker, key, size, digest, records, built_at):
            deps.storage.delete(key)  # another worker took over meanwhile; its archive stands
            return False
        log.info(
            "export built", extra={"request_id": request_id, "records": records, "bytes": size}
        )
        return True
    except Exception as exc:
        session.rollback()
        _fail(deps, session, request_id, worker, exc)
        return False
    finally:
        session.close()


def _write(deps, session, request, subject, aead, key, built_at, tally, progress=None):
    plans = plan_categories(deps.policies, request.categories)
    if progress is None and deps.progress is not None:
        progress = _reporter(deps.progress, request.id)

    def collect(category):
        try:
            yield from tally.collect(
                deps.collector,
                session,
                subject,
                categories=[category],
                parent_keys=True,
                batch_size=BATCH_ROWS,
            )
        finally:
            session.commit()  # the vault source reads the service database; end that read

    chunks, manifest = build(
        plans,
        collect,
        request_id=request.id,
        subject=subject.id,
        built_at=built_at,
        style=export_style(deps.policies, request),
        recipients=deps.policies.recipients,
        progress=progress,
        accounts=request.accounts,
    )
    digest, size = hashlib.sha256(), 0
    with deps.storage.writer(key) as fh:
        sealed = SealedWriter(fh, aead, subject.id, name=request.id)
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            sealed.write(chunk)
        sealed.close()
    return digest.hexdigest(), size, manifest


def _reporter(report: Callable[[str, int], None], request_id: str):
    """``build``'s ``progress(done, total)`` as ``report(request_id, done)``, never raising.

    Progress is for the customer's eyes only: a store that is briefly unreachable must not
    fail the export.
    """

    def progress(done: int, _total: int) -> None:
        try:
            report(request_id, done)
        except Exception as exc:
            log.debug("progress not recorded", extra={"error_type": type(exc).__name__})

    return progress


def _complete(deps, session, request_id, worker, key, size, digest, records, built_at) -> bool:
    done = session.execute(
        update(ExportArchive)
        .where(
            ExportArchive.request_id == request_id,
            ExportArchive.claimed_by == worker,
            ExportArchive.status == ExportArchive.BUILDING,
        )
        .values(
            status=ExportArchive.READY,
            storage_key=key,
            size=size,
            sha256=digest,
            records=records,
            built_at=built_at,
            lease_until=None,
            error=None,
            expires_at=built_at + dt.timedelta(days=deps.ttl_days),
        )
    ).rowcount
    if done != 1:
        session.rollback()
        return False
    request = session.get(DataRequest, request_id)
    lifecycle.transition(
        session, request, lifecycle.COMPLETED, actor="worker", details={"records": records}
    )
    audit.record(
        session,
        "export.built",
        actor="worker",
        request_id=request_id,
        subject_id=request.subject_id,
        details={"records": records, "bytes": size},
    )
    if deps.notify_ready:  # the notice is written with the completion (the outbox)
        deps.notify_ready(request)
    session.commit()
    return True


def _fail(deps, session, request_id, worker, exc) -> None:
    archive = session.get(ExportArchive, request_id)
    if archive is None or archive.claimed_by != worker:
        session.commit()
        return
    permanent = archive.attempts >= deps.max_attempts or type(exc).__name__ == "SubjectErased"
    archive.status = ExportArchive.FAILED if permanent else ExportArchive.QUEUED
    archive.error = type(exc).__name__  # never the message: it may quote data
    archive.lease_until = None
    request = session.get(DataRequest, request_id)
    if permanent:
        request.reasons = [FAILED_REASON]
    audit.record(
        session,
        "export.failed",
        actor="worker",
        request_id=request_id,
        subject_id=request.subject_id,
        details={
            "attempt": archive.attempts,
            "permanent": permanent,
            "error_type": type(exc).__name__,
        },
    )
    session.commit()
    log.warning(
        "export failed",
        extra={
            "request_id": request_id,
            "attempt": archive.attempts,
            "permanent": permanent,
            "error_type": type(exc).__name__,
        },
    )


def run_pending(deps: ExportDeps, worker: str = WORKER_ID, limit: int | None = None) -> int:
    """Claim and build exports until none is waiting (or ``limit``); returns how many were built."""
    built = 0
    while limit is None or built < limit:
        session = deps.new_session()
        try:
            request_id = claim(session, worker, deps.lease_seconds, deps.max_attempts)
        finally:
            session.close()
        if request_id is None:
            return built
        built += build_one(deps, request_id, worker)
    return built


def expire(deps: ExportDeps) -> int:
    """Delete archives past their expiry, and partial files of killed workers."""
    session = deps.new_session()
    try:
        due = session.scalars(
            select(ExportArchive)
            .where(ExportArchive.status == ExportArchive.READY, ExportArchive.expires_at < utcnow())
            .limit(500)
        ).all()
        for archive in due:
            archive.status = ExportArchive.EXPIRED
            audit.record(session, "export.expired", actor="system", request_id=archive.request_id)
        session.commit()
        # After the commit: a READY row never points at a deleted object, and a store in the
        # service database is written outside this transaction (SQLite has one writer).
        for archive in due:
            deps.storage.delete(archive.storage_key)
        deps.storage.purge_partials(older_than_seconds=deps.lease_seconds)
        return len(due)
    finally:
        session.close()


def _postpone(session: Session, request_id: str, worker: str, outage, exc) -> None:
    """A source was down while building an export: try again later, attempts not used up.

    The archive goes back to the claimable pool once its lease (the delay) has passed.
    """
    source, attempts = outage
    delay = steps.retry_delay(attempts)
    session.execute(
        update(ExportArchive)
        .where(ExportArchive.request_id == request_id, ExportArchive.claimed_by == worker)
        .values(
            status=ExportArchive.BUILDING,
            attempts=ExportArchive.attempts - 1,
            error=type(exc).__name__,
            lease_until=utcnow() + dt.timedelta(seconds=delay),
        )
    )
    session.commit()
    log.warning(
        "export waits for a source",
        extra={
            "request_id": request_id,
            "source": source,
            "error_type": type(exc).__name__,
            "retry_in_seconds": delay,
        },
    )
