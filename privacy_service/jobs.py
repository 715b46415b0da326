"""Scheduled jobs: one declarative table, and a database lease for each job.

Several processes then run each job once per schedule, never two at the same time.

Job bodies call services and commit once; they run the same from the scheduler, the CLI and tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from exports import worker as export_worker
from privacy_service import audit, notices
from privacy_service.calendar import receipt_day
from privacy_service.db import Base, UTCDateTime, utcnow
from privacy_service.notices import outbox
from privacy_service.notices.outcomes import beijing
from privacy_service.recovery import recover_abandoned
from privacy_service.requests import deadlines, lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive, purge_idempotency_records
from privacy_service.runtime import Runtime
from privacy_service.tasks.sweeper import sweep
from privacy_service.team import aggregates
from retention import engine as retention_engine
from retention.processor import end_cooling_off

log = logging.getLogger(__name__)
HOLDER = f"{socket.gethostname()}:{os.getpid()}"


class JobLease(Base):
    """Who holds a job, and until when.

    A lease outlives the run by a quiet period so that a second process firing the same schedule
    a moment later skips it.
    """

    __tablename__ = "job_leases"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120), nullable=False)
    lease_until: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last failure (the exception's type only: messages can carry values), for the
    # dashboard's job page.
    last_failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(120))


def acquire(session: Session, job_id: str, seconds: float, holder: str = HOLDER) -> bool:
    """Take the lease for ``seconds`` if nobody holds it; commits."""
    now = utcnow()
    until = now + dt.timedelta(seconds=seconds)
    try:
        session.execute(
            insert(JobLease).values(
                job_id=job_id, holder=holder, lease_until=now, last_started_at=None
            )
        )
        session.commit()
    except IntegrityError:
        session.rollback()
    taken = session.execute(
        update(JobLease)
        .where(JobLease.job_id == job_id, JobLease.lease_until <= now)
        .values(holder=holder, lease_until=until, last_started_at=now)
    ).rowcount
    session.commit()
    return taken == 1


def release(session: Session, job_id: str, quiet_seconds: float, holder: str = HOLDER) -> None:
    """End a run; the lease stays for ``quiet_seconds`` so a late twin does not repeat it."""
    now = utcnow()
    session.execute(
        update(JobLease)
        .where(JobLease.job_id == job_id, JobLease.holder == holder)
        .values(lease_until=now + dt.timedelta(seconds=quiet_seconds), last_finished_at=now)
    )
    session.commit()


def record_failure(session: Session, job_id: str, error_type: str) -> None:
    """Remember a job's last failure (the exception type only) for the dashboard; commits."""
    now = utcnow()
    try:
        session.execute(insert(JobLease).values(job_id=job_id, holder=HOLDER, lease_until=now))
        session.commit()
    except IntegrityError:
        session.rollback()
    session.execute(
        update(JobLease)
        .where(JobLease.job_id == job_id)
        .values(last_failed_at=now, last_error=error_type[:120])
    )
    session.commit()


# --- Job bodies --------------------------------------------------------------------------------


def recompute_provisional_deadlines(session: Session, rt: Runtime) -> int:
    """Recompute provisional due dates (a calendar year may have become known)."""
    return deadlines.recompute_provisional(session, rt.policies)


def reject_unverified_requests(session: Session, rt: Runtime) -> int:
    """Close requests never verified within the allowed time, with a reason."""
    cutoff = utcnow() - dt.timedelta(days=rt.settings.unverified_request_ttl_days)
    stale = session.scalars(
        select(DataRequest)
        .where(
            DataRequest.status == lifecycle.PENDING_VERIFICATION, DataRequest.received_at < cutoff
        )
        .limit(500)
    ).all()
    days = rt.settings.unverified_request_ttl_days
    reason = [
        {
            "code": "not_verified",
            "zh-CN": f"身份未在 {days} 天内完成验证，请求已关闭。如需要，请重新提交。",
            "en": f"Identity was not verified within {days} days, "
            "so the request was closed. Please submit it again if you still need it.",
        }
    ]
    for request in stale:
        lifecycle.transition(session, request, lifecycle.REJECTED, actor="system", reasons=reason)
    return len(stale)


def purge_idempotency_keys(session: Session, rt: Runtime) -> int:
    """Forget idempotency keys older than a day."""
    return purge_idempotency_records(session, utcnow() - dt.timedelta(days=1))


def purge_notices(session: Session, rt: Runtime) -> int:
    """Delete sent and given-up notices older than ``PRIVACY_NOTICE_KEEP_DAYS`` (audited)."""
    days = rt.settings.notice_keep_days
    removed = outbox.purge(session, utcnow() - dt.timedelta(days=days))
    if removed:
        audit.record(
            session, "notices.purged", actor="system", details={"rows": removed, "days": days}
        )
    return removed


def expire_exports(session: Session, rt: Runtime) -> int:
    """Delete expired export archives and abandoned partial files."""
    return export_worker.expire(rt.export_deps())


def end_cooling_offs(session: Session, rt: Runtime) -> int:
    """Closures whose cooling-off is over: checked again, then due (their task is enqueued)."""
    return end_cooling_off(rt.erasure_deps(), session)


def sweep_tasks(session: Session, rt: Runtime) -> int:
    """Enqueue open exports, erasures and lookups whose task went missing (``tasks.sweeper``)."""
    return sweep(rt, rt.queue) if rt.queue is not None else 0


def retention_pass(session: Session, rt: Runtime) -> int:
    """The nightly purge under ``policies/retention.yaml``; returns rows removed."""
    record = retention_engine.run(rt.collector(), rt.policies, session)
    return sum(sum(tables.values()) for tables in record.counts.values())


def warn_expiring_exports(session: Session, rt: Runtime) -> int:
    """Tell customers whose export expires within a day and still has downloads left (once)."""
    now = utcnow()
    due = session.scalars(
        select(ExportArchive)
        .where(
            ExportArchive.status == ExportArchive.READY,
            ExportArchive.expiry_notified_at.is_(None),
            ExportArchive.expires_at <= now + dt.timedelta(days=1),
            ExportArchive.expires_at > now,
            ExportArchive.downloads < ExportArchive.max_downloads,
        )
        .limit(500)
    ).all()
    for archive in due:
        archive.expiry_notified_at = now
        request = session.get(DataRequest, archive.request_id)
        notices.queue(
            session,
            request,
            "export_expiring",
            expires=beijing(archive.expires_at),
            downloads_left=archive.max_downloads - archive.downloads,
            url=f"/r/{request.id}",
        )
    return len(due)


def close_abandoned_runs(session: Session, rt: Runtime) -> int:
    """Purge runs and key rotations whose process died become ``interrupted`` (audited)."""
    return sum(recover_abandoned(session, rt.collector()).values())


def remind_deadlines(session: Session, rt: Runtime) -> int:
    """Tell the privacy team which open requests are overdue or due within 3 working days."""
    today = receipt_day(utcnow())
    calendar = rt.policies.calendar
    soon, overdue = [], []
    for request in session.scalars(
        select(DataRequest)
        .where(
            DataRequest.status.not_in(lifecycle.TERMINAL),
            DataRequest.status != lifecycle.PENDING_VERIFICATION,
        )
        .order_by(DataRequest.due_date)
    ):
        left = calendar.working_days_between(today, request.due_date)
        line = (
            f"{request.id}  {request.type:16} {request.status:16} due {request.due_date} ({left})"
        )
        if left < 0:
            overdue.append(line)
        elif left <= 3:
            soon.append(line)
    if not (soon or overdue) or not rt.settings.privacy_team_email:
        return 0
    text = (
        f"逾期 Overdue: {len(overdue)}\n"
        + "\n".join(overdue)
        + f"\n\n三个工作日内到期 Due within 3 working days: {len(soon)}\n"
        + "\n".join(soon)
        + "\n"
    )
    outbox.add(  # sent once this job's transaction commits
        session,
        kind="team",
        channel="email",
        to=rt.settings.privacy_team_email,
        subject=f"隐私请求期限提醒 / Deadlines: {len(overdue)} overdue, {len(soon)} due soon",
        text=text,
        request_id=None,
    )
    return len(soon) + len(overdue)


def verify_audit_chain(session: Session, rt: Runtime) -> int:
    """Check the whole audit chain and store the outcome with its time (the dashboard shows it)."""
    check = audit.verify_and_store(session)
    if not check.ok:
        log.error("audit chain broken", extra={"entries": check.entries})
    return check.entries


def refresh_reports(session: Session, rt: Runtime) -> int:
    """Bring the reports' per-day figures up to date (the days touched since the last run)."""
    done = aggregates.refresh(session, rt.policies.calendar)
    return done.received_days + done.closed_days


def rebuild_reports(session: Session, rt: Runtime) -> int:
    """Recompute every day of the reports' figures (catches what a refresh could not see)."""
    done = aggregates.refresh(session, rt.policies.calendar, full=True)
    return done.received_days + done.closed_days


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """One scheduled job: a stable id, a body, and a cron or interval trigger."""

    id: str
    func: Callable[[Session, Runtime], int]
    trigger: str
    trigger_args: dict
    quiet_seconds: float


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "deadlines.recompute_provisional",
        recompute_provisional_deadlines,
        "cron",
        {"hour": 1, "minute": 30},
        3600,
    ),
    JobSpec(
        "requests.reject_unverified", reject_unverified_requests, "interval", {"hours": 1}, 1800
    ),
    JobSpec("idempotency.purge", purge_idempotency_keys, "interval", {"hours": 6}, 3600),
    JobSpec("notices.purge", purge_notices, "cron", {"hour": 2, "minute": 30}, 3600),
    JobSpec("deadlines.remind", remind_deadlines, "cron", {"hour": 9, "minute": 0}, 3600),
    JobSpec("retention.nightly", retention_pass, "cron", {"hour": 2, "minute": 0}, 3600),
    JobSpec("runs.close_abandoned", close_abandoned_runs, "interval", {"minutes": 10}, 300),
    JobSpec("exports.expire", expire_exports, "interval", {"hours": 1}, 1800),
    JobSpec("exports.warn_expiring", warn_expiring_exports, "interval", {"hours": 1}, 1800),
    JobSpec("audit.verify", verify_audit_chain, "cron", {"hour": 3, "minute": 30}, 3600),
    JobSpec("reports.refresh", refresh_reports, "interval", {"minutes": 1}, 30),
    JobSpec("reports.rebuild", rebuild_reports, "cron", {"hour": 3, "minute": 50}, 3600),
    # On-demand work runs on the task queue (privacy_service.tasks), enqueued on commit; these
    # two only make time-based work due and recover tasks that went missing.
    JobSpec("closures.end_cooling_off", end_cooling_offs, "interval", {"minutes": 1}, 30),
    JobSpec("tasks.sweep", sweep_tasks, "interval", {"minutes": 1}, 30),
)


def run_job(rt: Runtime, spec: JobSpec, lease_seconds: float = 900) -> int | None:
    """Run ``spec`` under its lease; returns its count, or None when another process holds it."""
    session = rt.db.new_session()
    try:
        if not acquire(session, spec.id, lease_seconds):
            log.info("job skipped: held elsewhere", extra={"job": spec.id})
            return None
        started = utcnow()
        try:
            count = spec.func(session, rt)
            session.commit()
        except Exception as exc:
            session.rollback()
            log.error("job failed", extra={"job": spec.id, "error_type": type(exc).__name__})
            record_failure(session, spec.id, type(exc).__name__)
            release(session, spec.id, 0)
            raise
        release(session, spec.id, spec.quiet_seconds)
        # Frequent jobs that found nothing to do stay out of the log.
        log.log(
            logging.INFO if count else logging.DEBUG,
            "job done",
            extra={
                "job": spec.id,
                "count": count,
                "seconds": round((utcnow() - started).total_seconds(), 3),
            },
        )
        return count
    finally:
        session.close()


# Interval jobs count from this instant in every process, so all schedulers fire them at the
# same moments and the lease lets exactly one of them run (quiet periods are under an interval).
ANCHOR = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def trigger_for(spec: JobSpec, timezone):
    """The APScheduler trigger of ``spec``: the same fire times in every process."""
    if spec.trigger == "cron":
        return CronTrigger(timezone=timezone, **spec.trigger_args)
    return IntervalTrigger(timezone=timezone, start_date=ANCHOR, **spec.trigger_args)


def start_scheduler(rt: Runtime, *, blocking: bool = False):
    """An APScheduler scheduler with every job of the table (coalesced, with grace).

    In the background of the web process (``make run``), or blocking (``privacy scheduler``).
    """
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = kind(timezone=rt.settings.timezone)
    for spec in JOBS:
        scheduler.add_job(
            _safe_run,
            trigger_for(spec, rt.settings.timezone),
            args=(rt, spec),
            id=spec.id,
            coalesce=True,
            misfire_grace_time=600,
            max_instances=1,
            replace_existing=True,
        )
    scheduler.start()
    return scheduler


def _safe_run(rt: Runtime, spec: JobSpec) -> None:
    # Already logged in run_job; the scheduler must keep going.
    with contextlib.suppress(Exception):
        run_job(rt, spec)
