"""Requests, their one-time-code verification, and idempotency records."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    delete,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from privacy_service.crypto.fields import Encrypted
from privacy_service.db import ID, Base, UTCDateTime, utcnow

OPEN_ONLY = "status NOT IN ('completed', 'rejected', 'cancelled')"


def _open_and_all(name: str, columns: tuple[str, ...]) -> tuple[Index, Index]:
    """An index of every request and a partial one of the open requests, on ``columns``."""
    return (
        Index(f"ix_requests_sort_{name}", *columns),
        Index(
            f"ix_requests_open_sort_{name}",
            *columns,
            postgresql_where=text(OPEN_ONLY),
            sqlite_where=text(OPEN_ONLY),
        ),
    )


class DataRequest(Base):
    """A data-subject request. Contacts, notes and corrections are stored only encrypted."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_status_due", "status", "due_date"),
        # The queue's order (due date, then id): a page is an index range, not a sort.
        Index("ix_requests_due_id", "due_date", "id"),
        Index("ix_requests_closed_at", "closed_at"),
        Index("ix_requests_identity", "identity_status", "identity_next_at"),
        # Open requests only: the queue's pages never walk past the closed ones (90%+ of rows).
        Index(
            "ix_requests_open_due",
            "due_date",
            "id",
            postgresql_where=text("status NOT IN ('completed', 'rejected', 'cancelled')"),
            sqlite_where=text("status NOT IN ('completed', 'rejected', 'cancelled')"),
        ),
        # Open requests by assignee: the "unassigned" and "mine" views and counts read only
        # this index (the sort by assignee goes by name: ix_requests_*sort_assignee).
        Index(
            "ix_requests_open_assignee",
            "assignee_id",
            "due_date",
            "id",
            postgresql_where=text("status NOT IN ('completed', 'rejected', 'cancelled')"),
            sqlite_where=text("status NOT IN ('completed', 'rejected', 'cancelled')"),
        ),
        # The queue's other orders, each an index range for the open requests and for all
        # (keyset pages: "next" starts after the last row's key, whatever the page number).
        *_open_and_all("type", ("type", "due_date", "id")),
        *_open_and_all("assignee", ("assignee_sort", "due_date", "id")),
        *_open_and_all("received", ("received_at", "id")),
        # Open requests waiting for the customer: that view and its count read only this.
        Index(
            "ix_requests_open_waiting",
            "due_date",
            "id",
            postgresql_where=text(f"waiting_since IS NOT NULL AND {OPEN_ONLY}"),
            sqlite_where=text(f"waiting_since IS NOT NULL AND {OPEN_ONLY}"),
        ),
        # Status changes since a time: what the reports' refresh recomputes.
        Index("ix_requests_status_changed_at", "status_changed_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    jurisdiction: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    contact_kind: Mapped[str] = mapped_column(String(8), nullable=False)
    # NULL once the subject is crypto-shredded.
    contact_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    contact_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    categories: Mapped[list | None] = mapped_column(JSON)
    corrections_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="zh-CN")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    due_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    due_date_provisional: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Refusal or failure reasons shown to the customer: [{"code", "zh-CN", "en"}]; no personal data.
    reasons: Mapped[list | None] = mapped_column(JSON)
    # Deletion and closure: the plan (steps with counts, fixed before anything changes), how far
    # execution got, and the receipt shown to the customer. Counts and codes only, no values.
    erasure_plan: Mapped[dict | None] = mapped_column(JSON)
    receipt: Mapped[dict | None] = mapped_column(JSON)
    cooling_off_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The staff member working on it (the dashboard's assignment), and since when the team
    # waits for the customer's answer to a question (NULL: not waiting). Both are internal:
    # the public status stays one of the contract's.
    assignee_id: Mapped[str | None] = mapped_column(ID, index=True)
    # The assignee's e-mail ("" for nobody), copied at assignment: what the queue sorts by.
    assignee_sort: Mapped[str] = mapped_column(
        String(254), nullable=False, default="", server_default=""
    )
    waiting_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    # How the request arrived: web (the customer's page or the API), or logged by an agent.
    channel: Mapped[str] = mapped_column(String(12), nullable=False, default="web")
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    # Made on someone else's behalf: the requester's relationship to the account holder
    # (requests/behalf.py: guardian, deceased_relative, agent); NULL when the holder asked.
    # The request's contact is then the requester's own.
    on_behalf: Mapped[str | None] = mapped_column(String(24))
    # Finding the customer in the sources (requests/resolve.py): pending, matched, unmatched,
    # retrying (a source failed: when to try again, and which source with which error type).
    identity_status: Mapped[str | None] = mapped_column(String(12))
    identity_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    identity_next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    identity_errors: Mapped[dict | None] = mapped_column(JSON)
    # The accounts the verified contact matched: [{"source", "key"}]; what the request covers.
    accounts: Mapped[list | None] = mapped_column(JSON)
    claim_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's API

    # Sealed under the subject's data key (shredding the subject makes them unreadable); a request
    # from someone who is not a customer owns its own key.
    contact = Encrypted("contact_enc", owner="key_owner")
    corrections = Encrypted("corrections_enc", owner="key_owner", as_json=True)
    note = Encrypted("note_enc", owner="key_owner")

    @property
    def key_owner(self) -> str:
        """Whose data key seals this request's fields."""
        return self.subject_id or self.id

    @property
    def key_owner_kind(self) -> str:
        """``subject`` or ``request`` (for the key registry)."""
        return "subject" if self.subject_id else "request"

    verification: Mapped[Verification] = relationship(
        back_populates="request", uselist=False, cascade="all, delete-orphan"
    )
    export_archive: Mapped[ExportArchive | None] = relationship(uselist=False, viewonly=True)


class Verification(Base):
    """The one-time code of a request: only its keyed hash is stored."""

    __tablename__ = "verifications"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sends: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # Start of the current send window (``sends`` counts the codes sent within it).
    window_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    voided: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    request: Mapped[DataRequest] = relationship(back_populates="verification")


class ExportArchive(Base):
    """The export of an access request: its build (claimed by one worker at a time) and delivery."""

    __tablename__ = "export_archives"
    __table_args__ = (Index("ix_export_archives_status_lease", "status", "lease_until"),)

    QUEUED, BUILDING, READY, FAILED, EXPIRED = "queued", "building", "ready", "failed", "expired"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    storage_key: Mapped[str | None] = mapped_column(String(120))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    records: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(200))
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    built_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    downloads: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_downloads: Mapped[int] = mapped_column(Integer, nullable=False)
    # When the customer was told the export is about to expire (once).
    expiry_notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first answer to a POST carrying an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_records"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, index=True
    )


def purge_idempotency_records(session: Session, cutoff: dt.datetime) -> int:
    """Forget keys older than ``cutoff`` (retries come within minutes, not days)."""
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount or 0
