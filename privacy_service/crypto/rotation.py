"""Rotating key-encryption keys without downtime.

Rotation re-wraps data keys, never data: each data key is unwrapped with its old KEK and wrapped
with the new one, in short batches (one transaction each), so the service keeps reading and
writing throughout. It is resumable: a crash leaves some keys on the old version, and the next
run picks up exactly those. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets two rotations (or a
rotation and a shred) proceed without blocking or double work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from privacy_service.crypto.keyring import KeyMaterialError
from privacy_service.crypto.keystore import ACTIVE, RETIRED, DataKey, KeyVersion
from privacy_service.crypto.vault import Vault
from privacy_service.db import utcnow


@dataclasses.dataclass
class RotationResult:
    """How many data keys were re-wrapped, and how many remain on other versions."""

    version: int
    rewrapped: int
    remaining: int


def _update_many_postgresql(session: Session, updates: list[dict], version: int, now) -> None:
    # One statement per batch instead of one per row: the batch travels as three arrays.
    session.execute(
        text(
            "UPDATE data_keys AS d SET wrapped = u.wrapped, kek_version = :version, "
            "rewrapped_at = :now FROM unnest(CAST(:owners AS varchar[]), CAST(:wraps AS bytea[]), "
            "CAST(:olds AS int[])) AS u(owner_id, wrapped, old) "
            "WHERE d.owner_id = u.owner_id AND d.kek_version = u.old"
        ),
        {
            "version": version,
            "now": now,
            "owners": [u["b_owner"] for u in updates],
            "wraps": [u["b_wrapped"] for u in updates],
            "olds": [u["b_old"] for u in updates],
        },
    )


def pending_count(session: Session, version: int) -> int:
    """Data keys (not shredded) wrapped by a version other than ``version``."""
    return (
        session.scalar(
            select(func.count())
            .select_from(DataKey)
            .where(DataKey.wrapped.is_not(None), DataKey.kek_version != version)
        )
        or 0
    )


def rewrap(
    new_session: Callable[[], Session],
    vault: Vault,
    version: int,
    *,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
    max_batches: int | None = None,
) -> RotationResult:
    """Re-wrap every data key not yet under ``version``; returns counts.

    ``max_batches`` stops early (tests simulate a crash with it).
    """
    done, batches, last = 0, 0, ""
    while max_batches is None or batches < max_batches:
        session = new_session()
        try:
            stmt = (
                select(DataKey.owner_id, DataKey.wrapped, DataKey.kek_version)
                .where(
                    DataKey.wrapped.is_not(None),
                    DataKey.kek_version != version,
                    DataKey.owner_id > last,
                )
                .order_by(DataKey.owner_id)
                .limit(batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=DataKey)
            rows = session.execute(stmt).all()
            if not rows:
                session.commit()
                if last == "":
                    break
                last = ""  # one more pass from the start: keys minted meanwhile with the old KEK
                continue
            now = utcnow()
            updates = [
                {
                    "b_owner": owner_id,
                    "b_wrapped": vault.wrap(
                        vault.unwrap(wrapped, owner_id, old), owner_id, version
                    ),
                    "b_old": old,
                }
                for owner_id, wrapped, old in rows
            ]
            if session.get_bind().dialect.name == "postgresql":
                _update_many_postgresql(session, updates, version, now)
            else:
                session.connection().execute(
                    update(DataKey.__table__)
                    .where(
                        DataKey.__table__.c.owner_id == bindparam("b_owner"),
                        DataKey.__table__.c.kek_version == bindparam("b_old"),
                    )
                    .values(wrapped=bindparam("b_wrapped"), kek_version=version, rewrapped_at=now),
                    updates,
                )
            session.commit()
        finally:
            session.close()
        done += len(rows)
        batches += 1
        last = rows[-1][0]
        if progress:
            progress(len(rows))
    with new_session() as session:
        remaining = pending_count(session, version)
    return RotationResult(version=version, rewrapped=done, remaining=remaining)


def retire(session: Session, version: int) -> None:
    """Mark a KEK version retired once no data key uses it; it can then leave the key ring."""
    row = session.get(KeyVersion, version)
    if row is None:
        raise KeyMaterialError(f"key version {version} is not registered")
    if row.status == ACTIVE:
        raise KeyMaterialError(f"key version {version} is active; rotate to another version first")
    in_use = session.scalar(
        select(func.count()).select_from(DataKey).where(DataKey.kek_version == version)
    )
    if in_use:
        raise KeyMaterialError(
            f"key version {version} still wraps {in_use} data key(s); run 'privacy keys rotate' "
            "to finish re-wrapping"
        )
    row.status, row.retired_at = RETIRED, utcnow()
