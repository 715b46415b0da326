"""Legal holds on a subject's data.

Staff keep a subject's data (all of it, or one category) for a stated reason until a date;
deletion and closure respect them. The reason is internal: customers are told only that data is
kept to meet a legal obligation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import Date, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit
from privacy_service.db import ID, Base, UTCDateTime, utcnow

HOLD_BASIS = {
    "zh-CN": "依法需要保留（法律程序或监管要求）",
    "en": "Kept to meet a legal obligation (legal proceedings or a regulator's requirement)",
}


class LegalHold(Base):
    """A hold on a subject's data: every category (``category`` NULL) or one."""

    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), nullable=False, index=True)
    category: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    until: Mapped[dt.date] = mapped_column(Date, nullable=False)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


def active(session: Session, subject_id: str, today: dt.date | None = None) -> list[LegalHold]:
    """Holds on the subject in force today."""
    today = today or utcnow().date()
    return list(
        session.scalars(
            select(LegalHold).where(
                LegalHold.subject_id == subject_id,
                LegalHold.released_at.is_(None),
                LegalHold.until >= today,
            )
        )
    )


def all_for(session: Session, subject_id: str) -> list[LegalHold]:
    """Every hold on the subject, in force or not, newest first (the dashboard lists them all)."""
    return list(
        session.scalars(
            select(LegalHold)
            .where(LegalHold.subject_id == subject_id)
            .order_by(LegalHold.created_at.desc())
        )
    )


def in_force(hold: LegalHold, today: dt.date | None = None) -> bool:
    """True while the hold applies."""
    return hold.released_at is None and hold.until >= (today or utcnow().date())


def change(
    session: Session,
    hold: LegalHold,
    *,
    category: str | None,
    reason: str,
    until: dt.date,
    actor: str,
) -> LegalHold:
    """Change a hold still in force (audited: which of category and date changed)."""
    changed = {}
    if category != hold.category:
        changed["category"] = category
    if until != hold.until:
        changed["until"] = until.isoformat()
    hold.category, hold.reason, hold.until = category, reason, until
    audit.record(
        session,
        "legal_hold.changed",
        actor=actor,
        subject_id=hold.subject_id,
        fields=["reason"],
        details={"hold_id": hold.id, **changed},
    )
    return hold


class UnknownCategory(ValueError):
    """A hold names a category the policies do not know (it would keep nothing)."""


def place(
    session: Session,
    *,
    subject_id: str,
    category: str | None,
    reason: str,
    until: dt.date,
    actor: str,
    categories: Collection[str],
) -> LegalHold:
    """Place a hold (audited; the reason is stored, never shown to the customer).

    ``category`` is one of ``categories`` (the policy's), or None for all of the customer's data.
    """
    if category is not None and category not in categories:
        raise UnknownCategory(f"unknown category; one of {list(categories)}")
    hold = LegalHold(
        subject_id=subject_id, category=category, reason=reason, until=until, created_by=actor
    )
    session.add(hold)
    session.flush()
    audit.record(
        session,
        "legal_hold.placed",
        actor=actor,
        subject_id=subject_id,
        details={"hold_id": hold.id, "category": category, "until": until.isoformat()},
    )
    return hold


def release(session: Session, hold_id: str, *, actor: str) -> LegalHold | None:
    """End a hold early."""
    hold = session.get(LegalHold, hold_id)
    if hold is not None and hold.released_at is None:
        hold.released_at = utcnow()
        audit.record(
            session,
            "legal_hold.released",
            actor=actor,
            subject_id=hold.subject_id,
            details={"hold_id": hold.id},
        )
    return hold
