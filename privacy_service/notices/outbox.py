"""The transactional outbox: a notice is a sealed row written with the change that causes it.

A service queues a notice on its session (``notices.queue``); when that session commits, the
notice is rendered and written here *inside the same transaction*, so the change and its notice
are stored together or not at all. The recipient and the text (which may carry a one-time code)
are sealed with the vault under a data key the row owns; the queue's task names only the batch
id, never a contact or a code.

After the commit a queue task (``tasks.work.deliver_notices``) claims the batch, sends its rows
in order and marks each sent. Delivery is *at least once*: a worker killed after the mail
server accepted a message but before the row was marked sent leaves the claim to expire, and
the next worker sends that one message again (once per such crash). We prefer a rare duplicate
code to a lost one. A sent row keeps what the audit needs (request, kind, channel, times,
attempts) and loses its envelopes, and its data key is destroyed (crypto-shredded).

A batch is the notices of one committed transaction about one request (or one team notice):
they go out in the order they were queued, one after the other.

Closed rows (sent, or given up on) are deleted ``PRIVACY_NOTICE_KEEP_DAYS`` after they were
written, with their keys' erasure markers, by the scheduled job ``notices.purge`` (``purge``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service.crypto.fields import Encrypted
from privacy_service.crypto.keystore import DataKey
from privacy_service.crypto.vault import vault_of
from privacy_service.db import ID, Base, UTCDateTime, utcnow

PENDING, SENT, FAILED = "pending", "sent", "failed"
BATCHES = "privacy.outbox_batches"
# Retries of a failing mail server: the base delay doubled per attempt, at most this long.
MAX_RETRY_SECONDS = 600
# Closed rows deleted per transaction by ``purge``: a large backlog never holds a long one.
PURGE_BATCH = 1000


class OutboxMessage(Base):
    """One message waiting to be sent (sealed), or the record that it was sent or failed."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_claim_until", "status", "claim_until"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    # The id of the batch's first row: what the queue's task carries.
    batch_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    request_id: Mapped[str | None] = mapped_column(
        ForeignKey("requests.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    # Sealed under the row's own data key; NULL (and the key destroyed) once sent or failed.
    to_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(String(200))  # the exception's type only
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # A worker's claim (its id, until when), or after a failure the time of the next try.
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    key_owner_kind = "outbox"
    to = Encrypted("to_enc")
    body = Encrypted("body_enc", as_json=True)  # {"subject": ..., "text": ...}


@dataclasses.dataclass(frozen=True)
class Message:
    """An opened row: what the transport sends."""

    id: str
    channel: str
    to: str
    subject: str
    text: str
    request_id: str | None


def add(
    session: Session,
    *,
    kind: str,
    channel: str,
    to: str,
    subject: str,
    text: str,
    request_id: str | None,
) -> OutboxMessage:
    """Write one sealed message in ``session``'s transaction; its task is enqueued at commit.

    Messages about one request in one transaction form a batch, sent in this order.
    """
    batches = session.info.setdefault(BATCHES, {})
    row = OutboxMessage(kind=kind, channel=channel, request_id=request_id, status=PENDING)
    key = request_id or row.id  # a team notice is a batch of its own
    batch_id, position = batches.get(key, (row.id, 0))
    batches[key] = (batch_id, position + 1)
    row.batch_id, row.position = batch_id, position
    session.add(row)
    row.to = to
    row.body = {"subject": subject, "text": text}
    return row


def forget_batches(session: Session) -> None:
    """A transaction ended: its next messages start new batches."""
    session.info.pop(BATCHES, None)


def claim(session: Session, batch_id: str, holder: str, lease_seconds: int) -> list[Message]:
    """Take the batch's unsent messages for ``lease_seconds`` and open them, in order; commits.

    Empty when another worker holds them, they wait for a retry, or they are all sent. The
    conditional UPDATE is the guard: two workers never both hold a message.
    """
    now = utcnow()
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.batch_id == batch_id,
            OutboxMessage.status == PENDING,
            or_(OutboxMessage.claim_until.is_(None), OutboxMessage.claim_until <= now),
        )
        .values(claimed_by=holder, claim_until=now + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.batch_id == batch_id,
            OutboxMessage.claimed_by == holder,
            OutboxMessage.status == PENDING,
        )
        .order_by(OutboxMessage.position)
    ).all()
    opened = []
    for row in rows:
        try:
            body = row.body
            opened.append(
                Message(row.id, row.channel, row.to, body["subject"], body["text"], row.request_id)
            )
        except Exception as exc:  # unreadable (its key lost): no retry can send it
            _finish(session, row.id, holder, status=FAILED, error=type(exc).__name__)
    session.commit()
    return opened


def _finish(session: Session, message_id: str, holder: str, **values) -> bool:
    """Close a held message (sent or failed for good): envelopes dropped, key destroyed."""
    done = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.claimed_by == holder,
            OutboxMessage.status == PENDING,
        )
        .values(to_enc=None, body_enc=None, claimed_by=None, claim_until=None, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done:
        vault_of(session).shred(session, message_id)
    session.commit()
    return bool(done)


def mark_sent(session: Session, message_id: str, holder: str) -> bool:
    """Record that the held message was sent (once); False when the claim was lost meanwhile."""
    return _finish(session, message_id, holder, status=SENT, sent_at=utcnow())


def retry_delay(base_seconds: float, attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures (doubling, at most 10 min)."""
    return min(MAX_RETRY_SECONDS, base_seconds * 2 ** max(0, attempts - 1))


def record_failure(
    session: Session,
    batch_id: str,
    message_id: str,
    holder: str,
    exc: Exception,
    *,
    base_seconds: float,
    max_attempts: int,
) -> float | None:
    """Count a failed send; seconds until the batch's next try, or None when it failed for good.

    A message failing for good is closed (its envelopes dropped) and the rest of the batch goes
    on; otherwise the batch's unsent messages wait together, so their order holds.
    """
    row = session.get(OutboxMessage, message_id)
    attempts = row.attempts + 1
    error = type(exc).__name__
    if attempts >= max_attempts:
        _finish(session, message_id, holder, status=FAILED, attempts=attempts, error=error)
        return None
    row.attempts, row.error = attempts, error
    delay = retry_delay(base_seconds, attempts)
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.batch_id == batch_id,
            OutboxMessage.claimed_by == holder,
            OutboxMessage.status == PENDING,
        )
        .values(claimed_by=None, claim_until=utcnow() + dt.timedelta(seconds=delay))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return delay


def due(session: Session, limit: int = 1000) -> list[tuple[str, dt.datetime | None]]:
    """(batch id, when it can be claimed: None for now) of every batch with unsent messages."""
    rows = session.execute(
        select(
            OutboxMessage.batch_id,
            func.count(),
            func.count(OutboxMessage.claim_until),
            func.min(OutboxMessage.claim_until),
        )
        .where(OutboxMessage.status == PENDING)
        .group_by(OutboxMessage.batch_id)
        .order_by(func.min(OutboxMessage.created_at))
        .limit(limit)
    ).all()
    # A row with no claim_until is claimable now; else the earliest lease or retry time.
    return [(batch, None if timed < total else first) for batch, total, timed, first in rows]


def in_flight(session: Session) -> int:
    """Unsent messages not waiting for a retry: new ones, and ones a worker holds now."""
    return session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.status == PENDING,
            or_(OutboxMessage.claim_until.is_(None), OutboxMessage.claimed_by.is_not(None)),
        )
    )


def counts(session: Session) -> dict[str, int]:
    """Messages by status (``privacy tasks status``)."""
    return dict(
        session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )


def purge(session: Session, before: dt.datetime, batch: int | None = None) -> int:
    """Delete closed messages (sent, or failed for good) written before ``before``; commits.

    Their envelopes are gone already and their keys destroyed: what goes is the record of the
    send and the key's erasure marker (no key can be minted again for an id nobody holds).
    Unsent messages, held or waiting for a retry, are never chosen, whatever their age. Each
    batch of ``batch`` rows (``PURGE_BATCH``) is its own short transaction.
    """
    batch = batch or PURGE_BATCH
    closed = (
        OutboxMessage.status.in_((SENT, FAILED)),
        OutboxMessage.claimed_by.is_(None),
        OutboxMessage.created_at < before,
    )
    removed = 0
    while True:
        ids = session.scalars(select(OutboxMessage.id).where(*closed).limit(batch)).all()
        if not ids:
            session.commit()  # ends the read (on SQLite a transaction that holds the lock)
            return removed
        removed += session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), *closed)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.execute(
            delete(DataKey)
            .where(
                DataKey.owner_id.in_(ids),
                DataKey.owner_kind == "outbox",
                DataKey.shredded_at.is_not(None),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
