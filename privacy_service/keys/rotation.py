"""Rotating key-encryption keys without downtime.

Rotation re-wraps data keys, never data: each data key is unwrapped with its old KEK and wrapped
with the new one, in short batches (one transaction each), so the service keeps reading and
writing throughout. It is resumable: a crash leaves some keys on the old version, and the next
run picks up exactly those. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets two rotations (or a
rotation and a shred) proceed without blocking or double work.

Each rotation is recorded (``key_rotations``) before its key is minted: its target version,
its holder and heartbeat, and the number of keys re-wrapped, counted in the same transaction as
every batch. A rotation whose process died is closed as ``interrupted`` (audited), and the next
``privacy keys rotate`` resumes that same target version instead of minting another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy import Integer, String, bindparam, func, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit, runs
from privacy_service.crypto.keyring import KeyMaterialError, add_version
from privacy_service.crypto.keystore import ACTIVE, RETIRED, DataKey, KeyVersion
from privacy_service.crypto.vault import Vault
from privacy_service.db import ID, Base, UTCDateTime, utcnow

RUNNING, DONE, INTERRUPTED, FAILED = "running", "done", "interrupted", "failed"


class KeyRotation(Base):
    """One run of ``privacy keys rotate``: its target version and how far it got."""

    __tablename__ = "key_rotations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    target_version: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    # The interrupted rotation this one carries on, if any.
    resumes: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    rewrapped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    batches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    holder: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


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
    rotation_id: str | None = None,
) -> RotationResult:
    """Re-wrap every data key not yet under ``version``; returns counts.

    With ``rotation_id``, that rotation's counts and heartbeat move in each batch's transaction.
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
            if rotation_id is not None:
                session.execute(
                    update(KeyRotation)
                    .where(KeyRotation.id == rotation_id)
                    .values(
                        rewrapped=KeyRotation.rewrapped + len(rows),
                        batches=KeyRotation.batches + 1,
                        heartbeat_at=now,
                    )
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


def retire(session: Session, version: int, *, actor: str) -> None:
    """Mark a KEK version retired once no data key uses it (audited; the caller commits).

    It can then leave the key ring.
    """
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
    audit.record(session, "keys.retired", actor=actor, details={"version": version})


# --- the record of a rotation --------------------------------------------------------------------


def recover_abandoned(session: Session) -> list[KeyRotation]:
    """Close rotations whose process died as ``interrupted`` (audited); commits."""
    closed = []
    # populate_existing: counts moved in other sessions' batch transactions.
    running = (
        select(KeyRotation)
        .where(KeyRotation.status == RUNNING)
        .execution_options(populate_existing=True)
    )
    for rotation in session.scalars(running).all():
        if not runs.abandoned(rotation.id, rotation.holder, rotation.heartbeat_at):
            continue
        rotation.status, rotation.finished_at = INTERRUPTED, utcnow()
        audit.record(
            session,
            "keys.rotation_interrupted",
            actor="system",
            details={
                "rotation": rotation.id,
                "version": rotation.target_version,
                "rewrapped": rotation.rewrapped,
                "batches": rotation.batches,
            },
        )
        closed.append(rotation)
    session.commit()
    return closed


def live(session: Session) -> KeyRotation | None:
    """A rotation some process is executing now."""
    return session.scalars(select(KeyRotation).where(KeyRotation.status == RUNNING)).first()


def to_resume(session: Session) -> KeyRotation | None:
    """The latest rotation, when it was interrupted: its version is the one to finish."""
    latest = session.scalars(
        select(KeyRotation).order_by(KeyRotation.started_at.desc(), KeyRotation.id.desc())
    ).first()
    return latest if latest is not None and latest.status == INTERRUPTED else None


def begin(session: Session, vault: Vault, settings, version: int | None) -> KeyRotation:
    """Record a rotation, then mint (or resume) its version and make it active; commits.

    The record comes first: a process killed between minting the key and activating it leaves
    a rotation whose version the next run finds, instead of minting yet another one.
    """
    recover_abandoned(session)
    running = live(session)
    if running is not None:
        raise KeyMaterialError(
            f"a rotation to version {running.target_version} is running ({running.holder}); "
            "wait for it to finish"
        )
    unfinished = to_resume(session)
    if version is None and unfinished is not None:
        version = unfinished.target_version
    current = vault.active_version(session)
    target = version if version is not None else max(vault.keyring.keks) + 1
    rotation = KeyRotation(
        target_version=target,
        previous_version=current,
        resumes=unfinished.id if unfinished and unfinished.target_version == target else None,
        status=RUNNING,
        rewrapped=0,
        batches=0,
        holder=runs.holder(),
        started_at=utcnow(),
        heartbeat_at=utcnow(),
    )
    session.add(rotation)
    session.commit()
    runs.started(rotation.id)
    try:
        vault.reload_keyring()
        if target not in vault.keyring.keks:
            if version is not None and rotation.resumes is None:
                raise KeyMaterialError(f"key version {target} is not in the key ring")
            added = add_version(settings, vault.keyring)
            if added != target:
                raise KeyMaterialError(
                    f"the key ring grew to version {added} meanwhile; expected {target}"
                )
            vault.reload_keyring()
        if target != current:
            vault.activate(session, target)
            audit.record(
                session,
                "keys.activated",
                actor="cli",
                details={"version": target, "previous": current, "rotation": rotation.id},
            )
        session.commit()
    except BaseException:
        session.rollback()
        # Once its key exists (or it carries one on), the rotation must be resumable.
        minted = target in vault.keyring.keks or rotation.resumes is not None
        rotation.status = INTERRUPTED if minted else FAILED
        rotation.finished_at = utcnow()
        session.commit()
        runs.ended(rotation.id)
        raise
    return rotation


def finish(session: Session, rotation: KeyRotation, result: RotationResult) -> None:
    """Close a rotation as done and audit its counts; commits."""
    runs.ended(rotation.id)
    session.refresh(rotation)
    rotation.status, rotation.finished_at = DONE, utcnow()
    audit.record(
        session,
        "keys.rewrapped",
        actor="cli",
        details={
            "version": rotation.target_version,
            "rotation": rotation.id,
            "resumes": rotation.resumes,
            "rewrapped": rotation.rewrapped,
            "remaining": result.remaining,
        },
    )
    session.commit()
