"""The append-only, hash-chained audit log.

Each entry carries a sequence number, the time, the actor, the action, the request and subject it
concerns, the *names* of fields involved (never their values), structured details that must not
hold personal data, the previous entry's hash and its own. The hash is an HMAC-SHA256 under the
audit key, so someone with write access to the database but not the key cannot re-forge a chain
after editing it. A single head row holds the last sequence number and hash. Entries are queued
during a transaction and chained at commit: updating the head first serialises appenders on every
backend (row lock on PostgreSQL, write lock on SQLite), for the length of the commit only. So
sequence order is commit order, and ``at`` (when the event happened) may lag it slightly.
Triggers installed by the migration refuse UPDATE and DELETE on entries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    event,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session

from privacy_service.crypto import vault_of
from privacy_service.db import ID, Base, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    """One audit event. Rows are never updated or deleted (enforced by triggers)."""

    __tablename__ = "audit_entries"
    # The audit page filters by actor, action or request, and by dates, and pages by (time,
    # sequence number), newest first: each filter, with or without dates, is one range of its
    # own index, whatever the log's size and however deep the page.
    __table_args__ = (
        Index("ix_audit_entries_actor_at", "actor", "at", "seq"),
        Index("ix_audit_entries_action_at", "action", "at", "seq"),
        Index("ix_audit_entries_request_at", "request_id", "at", "seq"),
        Index("ix_audit_entries_at_seq", "at", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    action: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    request_id: Mapped[str | None] = mapped_column(ID, index=True)
    subject_id: Mapped[str | None] = mapped_column(ID, index=True)
    fields: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHead(Base):
    """The chain's head: one row holding the last sequence number and hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


def _payload(
    seq: int,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    request_id: str | None,
    subject_id: str | None,
    fields: list,
    details: dict,
    prev_hash: str,
) -> bytes:
    doc = {
        "seq": seq,
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "request_id": request_id,
        "subject_id": subject_id,
        "fields": fields,
        "details": details,
        "prev": prev_hash,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_PENDING = "audit_pending"


def record(
    session: Session,
    action: str,
    *,
    actor: str,
    request_id: str | None = None,
    subject_id: str | None = None,
    fields: Iterable[str] = (),
    details: dict[str, Any] | None = None,
) -> None:
    """Queue an entry in the caller's transaction; it is chained and written at commit.

    ``fields`` are names only; ``details`` must hold no personal data (ids, counts, reason codes).
    Writing at commit keeps the chain head locked only for the commit itself, not for the whole
    transaction, so concurrent requests do not queue behind each other for long.
    """
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()  # so that a rollback, which discards the queue, is seen
    session.info.setdefault(_PENDING, []).append(
        {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "request_id": request_id,
            "subject_id": subject_id,
            "fields": sorted(set(fields)),
            "details": details or {},
        }
    )


def pending(session: Session) -> list[dict]:
    """Entries queued in this transaction and not yet written."""
    if isinstance(session, scoped_session):
        session = session()
    return list(session.info.get(_PENDING, []))


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    queued = session.info.pop(_PENDING, None)
    if not queued:
        return
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + len(queued))
        .returning(AuditHead.seq, AuditHead.hash)
    ).one_or_none()
    if head is None:
        raise RuntimeError("audit head row missing: run the migrations")
    last_seq, prev_hash = head
    vault = vault_of(session)
    seq = last_seq - len(queued)
    for item in queued:
        seq += 1
        digest = vault.audit_mac(_payload(seq, prev_hash=prev_hash, **item))
        session.add(AuditEntry(seq=seq, prev_hash=prev_hash, hash=digest, **item))
        prev_hash = digest
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev_hash))


@event.listens_for(Session, "after_soft_rollback")
def _discard_pending(session: Session, previous) -> None:
    if previous.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_PENDING, None)


@dataclasses.dataclass
class VerifyResult:
    """The outcome of checking the chain."""

    ok: bool
    entries: int
    problems: list[str]


def _entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session, max_problems: int = 20) -> VerifyResult:
    """Check sequence, links and HMACs of every entry, and the head; never modifies anything."""
    vault = vault_of(session)
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS_HASH
    count = 0
    for entry in _entries(session):
        count += 1
        if entry.seq != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next is {entry.seq})")
        if entry.prev_hash != prev:
            problems.append(f"entry {entry.seq} does not link to the entry before it")
        payload = _payload(
            entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            request_id=entry.request_id,
            subject_id=entry.subject_id,
            fields=entry.fields,
            details=entry.details,
            prev_hash=entry.prev_hash,
        )
        if vault.audit_mac(payload) != entry.hash:
            problems.append(f"entry {entry.seq} was altered (its hash does not match)")
        expected_seq, prev = entry.seq + 1, entry.hash
        if len(problems) >= max_problems:
            break
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the chain head is missing")
    elif len(problems) < max_problems and (head.seq != expected_seq - 1 or head.hash != prev):
        problems.append(
            f"the chain head says {head.seq} entries but the log ends at {expected_seq - 1}"
        )
    return VerifyResult(ok=not problems, entries=count, problems=problems)


class AuditCheck(Base):
    """One run of the scheduled audit-chain verification: when, the outcome, the problems."""

    __tablename__ = "audit_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    entries: Mapped[int] = mapped_column(Integer, nullable=False)
    problems: Mapped[str] = mapped_column(Text, nullable=False, default="")


def verify_and_store(session: Session) -> AuditCheck:
    """Verify the whole chain and store the outcome with its time (the scheduled job's body)."""
    started = utcnow()
    result = verify_chain(session)
    check = AuditCheck(
        started_at=started,
        finished_at=utcnow(),
        ok=result.ok,
        entries=result.entries,
        problems="\n".join(result.problems),
    )
    session.add(check)
    return check
