"""Writing generated shop rows fast: buffered batches, COPY for browsing, sequences after.

``generate.py`` decides what the rows are; this module only gets them into the database, so that
a million rows take seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Engine

from privacy_service.demo import shop_schema as shop

BROWSING_COLUMNS = ("id", "customer_id", "kind", "query", "sku", "device_id", "occurred_at")


class BatchWriter:
    """Buffers rows per table and writes them in batches."""

    def __init__(self, engine: Engine, batch: int = 5000):
        self.engine = engine
        self.batch = batch
        self.buffers: dict[str, list[dict]] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: Table, row: dict) -> None:
        """Buffer one row; a full buffer writes every table's buffer."""
        buf = self.buffers.setdefault(table.name, [])
        buf.append(row)
        if len(buf) >= self.batch:
            self.flush_all()  # parents too, so foreign keys always hold

    def flush(self, table: Table) -> None:
        """Write the rows buffered for ``table`` (one transaction)."""
        rows = self.buffers.pop(table.name, [])
        if rows:
            with self.engine.begin() as conn:
                conn.execute(table.insert(), rows)
            self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)

    def flush_all(self) -> None:
        """Write every buffer, parents before children (foreign keys)."""
        for table in shop.metadata.sorted_tables:
            self.flush(table)


def write_browsing(engine: Engine, rows: Iterable[tuple]) -> int:
    """Write browsing events (tuples in ``BROWSING_COLUMNS`` order); returns how many.

    PostgreSQL takes them through COPY; other databases in inserts of 20,000.
    """
    count = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cur,
                cur.copy(
                    f"COPY browsing_events ({', '.join(BROWSING_COLUMNS)}) FROM STDIN"
                ) as copy,
            ):
                for row in rows:
                    copy.write_row(row)
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    batch: list[dict] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(dict(zip(BROWSING_COLUMNS, row, strict=True)))
            if len(batch) >= 20_000:
                conn.execute(shop.browsing_events.insert(), batch)
                count += len(batch)
                batch.clear()
        if batch:
            conn.execute(shop.browsing_events.insert(), batch)
            count += len(batch)
    return count


def reset_sequences(engine: Engine) -> None:
    """Move PostgreSQL's id sequences past the ids the generator assigned.

    The shop's own inserts then continue after them; other databases need nothing.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in shop.metadata.sorted_tables:
            if "id" not in table.c:
                continue
            top = conn.execute(select(func.max(table.c.id))).scalar() or 0
            if top:
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :top)"),
                    {"t": table.name, "top": top},
                )
