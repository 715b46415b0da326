"""The service's directory of data subjects: encrypted contacts plus blind indexes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

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
