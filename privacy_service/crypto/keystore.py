"""Where data keys live, and which key-encryption-key versions exist.

One wrapped key per owner (a subject, or a request from someone who is not a customer); the
registry of KEK versions holds no key material, only status and fingerprint. The functions
below keep that registry in step with the key ring (``Vault`` calls them).
"""

from __future__ import annotations

import datetime as dt
import hmac

from sqlalchemy import Integer, LargeBinary, String, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service.crypto.keyring import KeyMaterialError, KeyRing
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


def active_version(session: Session) -> int | None:
    """The KEK version recorded as active, or None when none is (yet)."""
    return session.scalar(select(KeyVersion.version).where(KeyVersion.status == ACTIVE))


def register_versions(session: Session, ring: KeyRing) -> None:
    """Record the ring's versions the database does not know; refuse a wrong key for a known one.

    On an empty registry the ring's default version becomes active, the others decrypt-only.
    """
    known = {v.version: v for v in session.scalars(select(KeyVersion))}
    for version in sorted(ring.keks):
        fingerprint = ring.fingerprint(version)
        if version in known:
            if not hmac.compare_digest(known[version].fingerprint, fingerprint):
                raise KeyMaterialError(
                    f"key version {version} in PRIVACY_KEYS is not the key this database uses"
                )
            continue
        first = not known and version == ring.default_active
        # ON CONFLICT DO NOTHING: another process may register it at the same moment; a
        # savepoint would flush the half-built row that is being sealed.
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(KeyVersion)
            .values(
                version=version,
                status=ACTIVE if first else DECRYPT_ONLY,
                fingerprint=fingerprint,
                created_at=utcnow(),
                activated_at=utcnow() if first else None,
            )
            .on_conflict_do_nothing(index_elements=["version"])
        )


def set_active(session: Session, version: int) -> None:
    """Record ``version`` as the active KEK; the previous active one becomes decrypt-only."""
    session.execute(
        update(KeyVersion).where(KeyVersion.status == ACTIVE).values(status=DECRYPT_ONLY)
    )
    session.execute(
        update(KeyVersion)
        .where(KeyVersion.version == version)
        .values(status=ACTIVE, activated_at=utcnow())
    )
