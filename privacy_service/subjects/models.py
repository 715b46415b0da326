"""The service's directory of data subjects: encrypted contacts plus blind indexes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.crypto.fields import Encrypted
from privacy_service.db import ID, Base, UTCDateTime, utcnow


class Subject(Base):
    """A customer of the shop. ``external_ref`` is the shop's own customer id."""

    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    email_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    preferred_language: Mapped[str] = mapped_column(String(8), default="zh-CN", nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    email = Encrypted("email_enc")
    phone = Encrypted("phone_enc")
    name = Encrypted("name_enc")

    # The shop accounts found for this subject's contacts (one per source account).
    links: Mapped[list[SubjectAccount]] = relationship(
        back_populates="subject", order_by="SubjectAccount.created_at", viewonly=True
    )


class SubjectAccount(Base):
    """An account in a source system (a row of its identity table) that belongs to a subject.

    Recorded the first time a verified contact matches it, so each account has one subject.
    ``account_key`` is the identity column's value, as text.
    """

    __tablename__ = "subject_accounts"
    __table_args__ = (UniqueConstraint("source", "account_key"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    account_key: Mapped[str] = mapped_column(String(190), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    subject: Mapped[Subject] = relationship(back_populates="links")
