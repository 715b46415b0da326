"""Where data keys live, and which key-encryption-key versions exist.

One wrapped key per owner (a subject, or a request from someone who is not a customer); the
registry of KEK versions holds no key material, only status and fingerprint.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.db import ID, Base, UTCDateTime, utcnow

ACTIVE, DECRYPT_ONLY, RETIRED = "active", "decrypt_only", "retired"


class DataKey(Base):
    """A per-owner AES-256 data key, wrapped by a KEK version.

    Shredding sets ``wrapped`` to NULL and stamps ``shredded_at``: the row stays as an erasure
    marker so that no fresh key is ever minted for that owner by accident.
    """

    __tablename__ = "data_keys"

    owner_id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_version: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    rewrapped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shredded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class KeyVersion(Base):
    """A KEK version as the database knows it: active, decrypt-only or retired."""

    __tablename__ = "key_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
