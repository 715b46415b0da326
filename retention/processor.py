"""Carrying out deletions and account closures, from verification to receipt.

* A verified closure is checked at once: legal holds and blockers (unshipped orders, open refunds,
  a balance) refuse it with reasons; otherwise it enters ``cooling_off``.
* When the cooling-off ends, blockers are checked again, then the closure runs.
* A correction whose source failed at approval is retried here too (``requests/corrections``).
* Approved deletions and due closures are claimed by one worker at a time (a lease on the request
  row; ``SKIP LOCKED`` on PostgreSQL), planned once, executed step by step (resumable), and
  completed with a receipt. A closure ends by crypto-shredding the subject's key.
No Flask imports: the jobs, the CLI and tests call this.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from privacy_service import holds, notices
from privacy_service.datamap import steps
from privacy_service.db import claim_one, utcnow
from privacy_service.policies.erasure import Blocker
from privacy_service.requests import corrections, lifecycle
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.models import Subject
from privacy_service.subjects.scope import for_request
from retention import erasure
from retention import plan as planning
from retention.rows import condition
from retention.shred import shred_subject

log = logging.getLogger(__name__)
SOURCE_RETRY_SECONDS = 60  # a failed source is tried again after this (the job runs every 30 s)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
HELD = {
    "code": "legal_hold",
    "zh-CN": "您的账户目前因法律原因暂时无法注销，我们会在限制解除后通知您。",
    "en": "Your account cannot be closed at the moment for legal reasons; we will tell you when "
    "this changes.",
}


@dataclasses.dataclass
class ErasureDeps:
    """What carrying out erasures needs; the composition root provides it."""

    new_session: Callable[[], Session]
    collector: object
    policies: object
    lease_seconds: int = 900
    batch: int = erasure.BATCH
    progress: Callable[[dict, int], None] | None = None


def blockers(deps: ErasureDeps, subject: Subject) -> list[dict]:
    """Reasons a closure cannot go ahead now, each with what to do and how many items."""
    found = []
    for blocker in deps.policies.erasure.blockers:
        count = _count(deps, subject, blocker)
        if count:
            found.append(
                {"code": blocker.code, **blocker.reason, "remedy": blocker.remedy, "count": count}
            )
    return found


def _count(deps, subject, blocker: Blocker) -> int:
    collector = deps.collector
    for source in deps.policies.datamap.sources.values():
        if blocker.table in source.tables and source.kind == "sql":
            key = collector.subject_key(source, subject)
            if key is None:
                return 0
            joined, tables, where = collector.scope(source, source.tables[blocker.table], key)
            matching = and_(*(condition(tables[blocker.table], c) for c in blocker.when))
            with collector.engines[source.name].connect() as conn:
                return conn.execute(
                    select(func.count()).select_from(joined).where(where, matching)
                ).scalar()
    return 0


def start_closure(deps: ErasureDeps, session: Session, request: DataRequest) -> None:
    """Decide a verified closure: refused with reasons, or into the cooling-off. Caller commits."""
    subject = for_request(session, request)
    if any(h.category is None for h in holds.active(session, subject.id)):
        lifecycle.transition(session, request, lifecycle.REJECTED, actor="system", reasons=[HELD])
        return
    found = blockers(deps, subject)
    if found:
        lifecycle.transition(
            session,
            request,
            lifecycle.REJECTED,
            actor="system",
            reasons=found,
            details={"blockers": [b["code"] for b in found]},
        )
        return
    # Set first: the cooling-off notice tells the customer when it ends.
    request.cooling_off_until = utcnow() + dt.timedelta(days=deps.policies.erasure.cooling_off_days)
    lifecycle.transition(session, request, lifecycle.COOLING_OFF, actor="system")


def end_cooling_off(deps: ErasureDeps, session: Session, now: dt.datetime | None = None) -> int:
    """Closures whose cooling-off is over: checked again, then queued for the worker."""
    now = now or utcnow()
    due = session.scalars(
        select(DataRequest)
        .where(DataRequest.status == lifecycle.COOLING_OFF, DataRequest.cooling_off_until <= now)
        .limit(100)
    ).all()
    for request in due:
        subject = for_request(session, request)
        held = any(h.category is None for h in holds.active(session, subject.id))
        found = [HELD] if held else blockers(deps, subject)
        if found:
            lifecycle.transition(
                session, request, lifecycle.REJECTED, actor="system", reasons=found
            )
        else:
            lifecycle.transition(session, request, lifecycle.IN_PROGRESS, actor="system")
    session.commit()
    return len(due)


def claim(
    session: Session, worker: str, lease_seconds: int, *, request_id: str | None = None
) -> str | None:
    """Take one deletion, closure or correction in progress and not held by a live worker.

    A correction is in progress after its approval only while a source has not taken it yet.
    ``request_id`` limits the claim to that request (a queued task names it).
    """
    now = utcnow()
    only = () if request_id is None else (DataRequest.id == request_id,)
    candidates = (
        select(DataRequest.id)
        .where(
            *only,
            DataRequest.type.in_(("deletion", "account_closure", "correction")),
            DataRequest.status == lifecycle.IN_PROGRESS,
            or_(DataRequest.claim_until.is_(None), DataRequest.claim_until < now),
        )
        .order_by(DataRequest.received_at)
        .limit(1)
    )
    return claim_one(
        session,
        candidates,
        lambda request_id: (
            update(DataRequest)
            .where(
                DataRequest.id == request_id,
                or_(DataRequest.claim_until.is_(None), DataRequest.claim_until < now),
            )
            .values(claimed_by=worker, claim_until=now + dt.timedelta(seconds=lease_seconds))
        ),
    )


def carry_out(deps: ErasureDeps, request_id: str, worker: str = WORKER_ID) -> bool:
    """Plan (once), execute (resuming), and complete one claimed deletion or closure.

    A claimed correction gets another pass over the sources that have not taken it.
    """
    session = deps.new_session()
    try:
        request = session.get(DataRequest, request_id)
        subject = for_request(session, request)
        if request.type == "correction":
            done = corrections.carry_out(
                session, deps.collector, request, subject, actor="worker", first=False
            )
            session.commit()
            return done
        closing = request.type == "account_closure"
        if request.erasure_plan is None:
            try:
                plan = _plan(deps, session, subject, request, closing)
            except erasure.SourcesFailed as failed:
                session.rollback()
                action = "closure" if closing else "deletion"
                for name, error in failed.failures.items():
                    steps.started(session, request.id, name, action)
                    steps.failed(session, request.id, name, action, error)
                retry_failed_sources(session, request, failed.failures)
                return False
            request.erasure_plan = plan
            session.commit()
        try:
            erasure.execute(
                deps.collector,
                deps.policies,
                session,
                request,
                subject,
                batch=deps.batch,
                progress=deps.progress,
                heartbeat=_heartbeat(request_id, worker, deps.lease_seconds),
            )
        except erasure.SourcesFailed as failed:
            retry_failed_sources(session, request, failed.failures)
            return False
        shredded = False
        if closing and not holds.active(session, subject.id):
            # The closing notice goes to a contact that the shred is about to make unreadable.
            notices.remember_contact(session, request)
            shred_subject(session, subject.id, actor="worker", reason="account_closed")
            shredded = True
        now = utcnow()
        request.receipt = {
            **erasure.receipt(request, now, shredded=shredded),
            "sources": steps.summary(session, request.id),
            "accounts": request.accounts or [],
        }
        request.claim_until = None
        lifecycle.transition(session, request, lifecycle.COMPLETED, actor="worker")
        session.commit()
        log.info("erasure completed", extra={"request_id": request_id, "closing": closing})
        return True
    finally:
        session.close()


def _heartbeat(request_id: str, worker: str, lease_seconds: int) -> Callable[[Session], None]:
    """Extend this worker's claim in every batch's transaction: a long erasure stays its own."""

    def extend(session: Session) -> None:
        session.execute(
            update(DataRequest)
            .where(DataRequest.id == request_id, DataRequest.claimed_by == worker)
            .values(claim_until=utcnow() + dt.timedelta(seconds=lease_seconds))
        )

    return extend


def _plan(deps, session, subject, request, closing):
    return planning.plan(
        deps.collector,
        deps.policies,
        session,
        subject,
        None if closing else request.categories,
        now=utcnow(),
        holds=holds.active(session, subject.id),
        closing=closing,
    )


def retry_failed_sources(session: Session, request: DataRequest, failures: dict) -> None:
    """Keep a request whose sources failed for a later pass (the others' work stands)."""
    request.claim_until = utcnow() + dt.timedelta(seconds=SOURCE_RETRY_SECONDS)
    session.commit()
    log.warning(
        "erasure sources failed; will retry",
        extra={
            "request_id": request.id,
            "sources": sorted(failures),
            "error_types": sorted(set(failures.values())),
        },
    )


def run_pending(deps: ErasureDeps, worker: str = WORKER_ID) -> int:
    """End due cooling-offs, then carry out every claimable erasure; returns how many completed."""
    session = deps.new_session()
    try:
        end_cooling_off(deps, session)
    finally:
        session.close()
    done = 0
    while True:
        session = deps.new_session()
        try:
            request_id = claim(session, worker, deps.lease_seconds)
        finally:
            session.close()
        if request_id is None:
            return done
        done += carry_out(deps, request_id, worker)
