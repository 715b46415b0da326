"""The journal of batches that change a source system (retention purges, erasures).

A batch deletes or updates rows in a shop's database while its record lives in the service's
database: no transaction spans both. So each batch is written ahead:

1. the chosen primary keys are committed here as a ``pending`` batch;
2. the source transaction deletes (or anonymises) exactly those rows and commits;
3. the batch is settled here with the row count, in the same transaction as the run's own
   counts and heartbeat.

A process killed between 1 and 3 leaves a pending batch. Whoever resumes or closes the run
recovers it by looking at the source: keys that are gone were deleted, rows that hold the
batch's values were updated. Counts therefore match the shop, whichever instant the process
died at. Settled batches keep their count, not their keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import JSON, Integer, String, and_, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service.db import ID, Base, UTCDateTime, ids_clause, utcnow

PENDING, DONE = "pending", "done"


class WorkBatch(Base):
    """One batch of a purge run or an erasure, from intent to its settled count."""

    __tablename__ = "work_batches"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # purge | erasure
    owner_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    step: Mapped[str] = mapped_column(String(120), nullable=False)  # rule id, or plan step index
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    table_name: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # delete | anonymise | ...
    ids: Mapped[list | None] = mapped_column(JSON)
    # What an update sets, to recognise after a crash whether it committed.
    values: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    rows: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


def intend(
    session: Session,
    *,
    owner_kind: str,
    owner_id: str,
    step: str,
    source: str,
    table: str,
    action: str,
    ids: list,
    values: dict | None = None,
) -> WorkBatch:
    """Record (and commit) the keys a batch is about to change."""
    batch = WorkBatch(
        owner_kind=owner_kind,
        owner_id=owner_id,
        step=str(step),
        source=source,
        table_name=table,
        action=action,
        ids=[_plain(i) for i in ids],
        values=values,
        status=PENDING,
        created_at=utcnow(),
    )
    session.add(batch)
    session.commit()
    return batch


def run(
    session: Session,
    engine,
    t,
    *,
    joined,
    where,
    size: int,
    values: dict | None,
    recorded: dict | None = None,
    **intent,
) -> Iterator[int]:
    """Delete (``values`` None) or update the rows of ``t`` that ``where`` picks, in batches.

    ``recorded`` is what the journal keeps of ``values`` to recognise them after a crash (as
    stored, where ``values`` holds SQL expressions); by default ``values`` itself.

    Each batch takes the next ``size`` primary keys in order (keyset paging: rows already
    changed are never read again), is written ahead with ``intent`` (``intend``'s fields), is
    changed in one short source transaction and settled. Yields each batch's row count; the
    caller adds its own counts and heartbeat and commits before the next batch is read.
    """
    pk = next(iter(t.primary_key.columns))
    last = None
    while True:
        ids_query = select(pk).select_from(joined).where(where).order_by(pk).limit(size)
        if last is not None:
            ids_query = ids_query.where(pk > last)
        with engine.connect() as conn:
            ids = list(conn.execute(ids_query).scalars())
        if not ids:
            return
        # Committed before the source's transaction opens (no transaction of one database
        # waits on another): a kill after the source commits is still counted.
        entry = intend(session, ids=ids, values=recorded or values, **intent)
        chosen, params = ids_clause(engine, pk, ids)
        change = delete(t) if values is None else update(t).values(values)
        with engine.begin() as conn:
            n = conn.execute(change.where(chosen), params).rowcount
        settle(entry, n)
        yield n
        last = ids[-1]


def _plain(value):
    return value if isinstance(value, int | str) else str(value)


def settle(batch: WorkBatch, rows: int) -> None:
    """Mark the batch done with its count; the caller commits with its own counts."""
    batch.status, batch.rows, batch.ids, batch.settled_at = DONE, rows, None, utcnow()


def pending(session: Session, owner_kind: str, owner_id: str) -> list[WorkBatch]:
    """Batches of an owner whose outcome was never recorded (their process died)."""
    return list(
        session.scalars(
            select(WorkBatch)
            .where(
                WorkBatch.owner_kind == owner_kind,
                WorkBatch.owner_id == owner_id,
                WorkBatch.status == PENDING,
            )
            .order_by(WorkBatch.created_at)
        )
    )


def recover(session: Session, collector, batch: WorkBatch) -> int:
    """Settle a pending batch from what the source shows; returns its count (no commit)."""
    engine = collector.engines[batch.source]
    t = collector.table(batch.source, batch.table_name)
    pk = next(iter(t.primary_key.columns))
    ids = list(batch.ids or [])
    rows = 0
    if ids:
        chosen, params = ids_clause(engine, pk, ids)
        query = select(func.count()).select_from(t).where(chosen)
        if batch.action != "delete":
            query = query.where(
                and_(
                    *(
                        t.c[name].is_(None) if value is None else t.c[name] == value
                        for name, value in (batch.values or {}).items()
                    )
                )
            )
        with engine.connect() as conn:
            found = conn.execute(query, params).scalar() or 0
        rows = len(ids) - found if batch.action == "delete" else found
    settle(batch, rows)
    return rows


def totals(session: Session, owner_kind: str, owner_id: str) -> dict[tuple[str, str], int]:
    """Settled rows per (step, table) of an owner."""
    return {
        (step, table): int(rows or 0)
        for step, table, rows in session.execute(
            select(WorkBatch.step, WorkBatch.table_name, func.sum(WorkBatch.rows))
            .where(
                WorkBatch.owner_kind == owner_kind,
                WorkBatch.owner_id == owner_id,
                WorkBatch.status == DONE,
            )
            .group_by(WorkBatch.step, WorkBatch.table_name)
        )
    }
