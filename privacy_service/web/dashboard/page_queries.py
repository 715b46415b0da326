"""The SQL the dashboard's pages read (the queue's filters, search and paging are ``queries``).

Each function takes the session and returns rows or plain values; the views only render them.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session

from privacy_service.audit import AuditCheck, AuditEntry
from privacy_service.crypto.keystore import DataKey, KeyVersion
from privacy_service.db import local_day
from privacy_service.jobs import JobLease
from privacy_service.requests.models import DataRequest
from privacy_service.team.accounts import StaffUser
from privacy_service.team.models import ReplyTemplate, RequestNote, SavedView
from privacy_service.web.dashboard.queries import open_requests
from retention.purge_records import PurgeRun

# The audit actions about a customer's legal holds, shown on each of their requests' timelines.
HOLD_ACTIONS = ("legal_hold.placed", "legal_hold.changed", "legal_hold.released")
TIMELINE_MAX = 500
RUNS_SHOWN = 20
CSV_BATCH = 5000


# --- staff ---------------------------------------------------------------------------------------


def staff_emails(s: Session) -> dict[str, str]:
    """Staff id -> e-mail (a small table)."""
    return dict(s.execute(select(StaffUser.id, StaffUser.email)).all())


def staff_members(s: Session) -> list[StaffUser]:
    """The team's accounts by e-mail."""
    return list(s.scalars(select(StaffUser).order_by(StaffUser.email)))


def email_taken(s: Session, email: str) -> bool:
    """Whether an account has this e-mail."""
    return s.scalars(select(StaffUser.id).where(StaffUser.email == email)).first() is not None


def assignable_staff(s: Session) -> list[StaffUser]:
    """Members a request can be given to: enabled agents and admins, by e-mail."""
    return list(
        s.scalars(
            select(StaffUser)
            .where(StaffUser.role.in_(("agent", "admin")), StaffUser.disabled_at.is_(None))
            .order_by(StaffUser.email)
        )
    )


# --- one request ---------------------------------------------------------------------------------


def notes_of(s: Session, request_id: str) -> list[RequestNote]:
    """A request's notes, oldest first."""
    return list(
        s.scalars(
            select(RequestNote)
            .where(RequestNote.request_id == request_id)
            .order_by(RequestNote.created_at)
        )
    )


def timeline(s: Session, r: DataRequest) -> list[AuditEntry]:
    """The request's audit entries, with the customer's legal holds (placed, changed, ended)."""
    where = AuditEntry.request_id == r.id
    if r.subject_id:
        where = or_(
            where,
            and_(AuditEntry.subject_id == r.subject_id, AuditEntry.action.in_(HOLD_ACTIONS)),
        )
    return list(
        s.scalars(select(AuditEntry).where(where).order_by(AuditEntry.seq).limit(TIMELINE_MAX))
    )


def reply_templates(s: Session) -> list[ReplyTemplate]:
    """The refusal templates admins edited or added, by key."""
    return list(s.scalars(select(ReplyTemplate).order_by(ReplyTemplate.key)))


# --- the queue -----------------------------------------------------------------------------------


def requests_per_customer(s: Session, subject_ids: set[str]) -> dict[str, int]:
    """How many requests each of these customers has in all."""
    if not subject_ids:
        return {}
    return dict(
        s.execute(
            select(DataRequest.subject_id, func.count())
            .where(DataRequest.subject_id.in_(subject_ids))
            .group_by(DataRequest.subject_id)
        ).all()
    )


def requests_by_id(s: Session, ids: list[str]) -> list[DataRequest]:
    """These requests, soonest due first."""
    if not ids:
        return []
    stmt = select(DataRequest).where(DataRequest.id.in_(ids)).order_by(DataRequest.due_date)
    return list(s.scalars(stmt))


def saved_views(s: Session, staff_id: str) -> list[SavedView]:
    """A member's saved views, by name."""
    return list(
        s.scalars(select(SavedView).where(SavedView.staff_id == staff_id).order_by(SavedView.name))
    )


def delete_saved_view(s: Session, view_id: str, staff_id: str) -> None:
    """Remove a member's saved view (someone else's is left alone)."""
    s.execute(delete(SavedView).where(SavedView.id == view_id, SavedView.staff_id == staff_id))


# --- reports, retention, jobs, keys --------------------------------------------------------------


def open_per_receipt_day(s: Session) -> list[tuple]:
    """(local day of receipt, how many) of the open requests."""
    rday = local_day(s, DataRequest.received_at)
    return list(s.execute(select(rday, func.count()).where(open_requests()).group_by(rday)).all())


def recent_purge_runs(s: Session) -> list[PurgeRun]:
    """The last retention passes, newest first."""
    stmt = select(PurgeRun).order_by(PurgeRun.started_at.desc()).limit(RUNS_SHOWN)
    return list(s.scalars(stmt))


def job_leases(s: Session) -> dict[str, JobLease]:
    """Each scheduled job's lease (its last start, finish and failure), by job id."""
    return {lease.job_id: lease for lease in s.scalars(select(JobLease))}


def data_keys_per_version(s: Session) -> dict:
    """How many data keys each key version wraps (None: shredded keys)."""
    return dict(
        s.execute(select(DataKey.kek_version, func.count()).group_by(DataKey.kek_version)).all()
    )


def key_versions(s: Session) -> list[KeyVersion]:
    """Every key version, oldest first."""
    return list(s.scalars(select(KeyVersion).order_by(KeyVersion.version)))


# --- the audit log -------------------------------------------------------------------------------


def entry_time(s: Session, seq: int):
    """The time of the audit entry with this sequence number (None: no such entry)."""
    return s.scalar(select(AuditEntry.at).where(AuditEntry.seq == seq))


def audit_page(s: Session, where: list, before, after, size: int) -> tuple[list, bool, bool]:
    """A page of entries, newest first, and whether newer and older ones exist.

    ``before`` / ``after`` are the (time, sequence number) a page link starts from: pages go by
    that key on an index per filter, so a deep page costs what the first does.
    """
    stmt = select(AuditEntry).where(*where)
    key = tuple_(AuditEntry.at, AuditEntry.seq)
    if after is not None:  # the page of newer entries, going back up
        rows = s.scalars(
            stmt.where(key > after).order_by(AuditEntry.at, AuditEntry.seq).limit(size + 1)
        ).all()
        return list(reversed(rows[:size])), len(rows) > size, True
    if before is not None:
        stmt = stmt.where(key < before)
    newest_first = (AuditEntry.at.desc(), AuditEntry.seq.desc())
    rows = s.scalars(stmt.order_by(*newest_first).limit(size + 1)).all()
    return list(rows[:size]), before is not None, len(rows) > size


def last_audit_check(s: Session) -> AuditCheck | None:
    """The stored outcome of the last verification of the audit chain."""
    return s.scalars(select(AuditCheck).order_by(AuditCheck.id.desc()).limit(1)).first()


def audit_batches(s: Session, where: list) -> Iterator[list[AuditEntry]]:
    """Every matching entry, oldest first, in batches (each a range of the filter's index)."""
    after: list = []
    while True:
        batch = s.scalars(
            select(AuditEntry)
            .where(*where, *after)
            .order_by(AuditEntry.at, AuditEntry.seq)
            .limit(CSV_BATCH)
        ).all()
        if not batch:
            return
        yield batch
        after = [tuple_(AuditEntry.at, AuditEntry.seq) > (batch[-1].at, batch[-1].seq)]
        s.expunge_all()


def request_ids_from(prefix_condition, limit: int = 50):
    """A subquery of the ids of requests matching a condition (the audit log's id prefix)."""
    return select(DataRequest.id).where(prefix_condition).limit(limit)
