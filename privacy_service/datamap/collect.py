"""Collection: every row of a subject's personal data, from every source, as a stream.

For each table the collector builds one query that joins up the table's links to the identity
table (order_items -> orders -> customers), filters on the subject's key, and streams the rows
in batches (server-side cursors on PostgreSQL), so memory stays flat whatever the row count.
This is what exports, corrections, deletions and retention build on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping

from sqlalchemy import MetaData, Table, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from privacy_service.datamap.model import DataMap, SourceSpec, TableSpec
from privacy_service.subjects.models import Subject

DEFAULT_BATCH = 2000


@dataclasses.dataclass
class Batch:
    """Rows of one table for one category; ``columns[0]`` is the row's primary key."""

    category: str
    source: str
    table: str
    columns: tuple[str, ...]
    rows: list[tuple]


class Collector:
    """Streams a subject's rows from the sources of a data map."""

    def __init__(self, datamap: DataMap, engines: Mapping[str, Engine]):
        self.datamap = datamap
        self.engines = engines
        self._tables: dict[tuple[str, str], Table] = {}

    def table(self, source: str, name: str) -> Table:
        """The reflected table of a source (reflected once per collector)."""
        key = (source, name)
        if key not in self._tables:
            metadata = MetaData()
            spec = self.datamap.sources[source]
            metadata.reflect(self.engines[source], only=list(spec.tables))
            for table_name, table in metadata.tables.items():
                self._tables[(source, table_name)] = table
        return self._tables[key]

    def subject_key(self, source: SourceSpec, subject: Subject):
        """The subject's key in ``source`` (e.g. the shop's customer id), typed like the column."""
        raw = getattr(subject, source.subject_field)
        if raw is None:
            return None
        column = self.table(source.name, source.identity_table).c[source.identity_column]
        try:
            return column.type.python_type(raw)
        except (TypeError, ValueError, NotImplementedError):
            return raw

    def scope(self, source: SourceSpec, table: TableSpec, key):
        """How to reach a subject's rows of ``table``.

        Returns the FROM clause, the joined tables by name, and the WHERE condition on ``key``.
        Links are walked up to the identity table; the last link compares straight to the key
        (no join to the root).
        """
        joined, tables, root = self.root(source, table)
        return joined, tables, root == key

    def root(self, source: SourceSpec, table: TableSpec):
        """How ``table`` reaches the customer, for work across all customers (purges).

        Returns the joins up its links, the joined tables by name, and the column holding the
        customer's key.
        """
        t = self.table(source.name, table.name)
        tables = {table.name: t}
        if table.name == source.identity_table:
            return t, tables, t.c[source.identity_column]
        current, current_spec, joined = t, table, t
        while current_spec.parent_table != source.identity_table:
            parent = self.table(source.name, current_spec.parent_table)
            joined = joined.join(
                parent, current.c[current_spec.link_column] == parent.c[current_spec.parent_column]
            )
            tables[parent.name] = parent
            current, current_spec = parent, source.tables[current_spec.parent_table]
        return joined, tables, current.c[current_spec.link_column]

    def query(self, source: SourceSpec, table: TableSpec, columns: Iterable[str], key):
        """SELECT the table's primary key and ``columns`` for rows reaching ``key``."""
        t = self.table(source.name, table.name)
        pk = next(iter(t.primary_key.columns))
        joined, _tables, where = self.scope(source, table, key)
        return select(pk, *(t.c[c] for c in columns)).select_from(joined).where(where).order_by(pk)

    def collect(
        self,
        service_session: Session,
        subject: Subject,
        *,
        categories: Iterable[str] | None = None,
        exported_only: bool = True,
        batch_size: int = DEFAULT_BATCH,
    ) -> Iterator[Batch]:
        """Every batch of the subject's rows, category by category, source by source."""
        wanted = set(categories) if categories else None
        for source in self.datamap.sources.values():
            for table in source.tables.values():
                for category in table.categories():
                    if wanted is not None and category not in wanted:
                        continue
                    columns = tuple(
                        f.name
                        for f in table.fields
                        if f.category == category and (f.export or not exported_only)
                    )
                    if not columns:
                        continue
                    if source.kind == "vault":
                        yield from self._vault(
                            service_session, subject, source, table, category, columns
                        )
                    else:
                        yield from self._sql(subject, source, table, category, columns, batch_size)

    def _sql(self, subject, source, table, category, columns, batch_size) -> Iterator[Batch]:
        key = self.subject_key(source, subject)
        if key is None:
            return
        stmt = self.query(source, table, columns, key)
        with self.engines[source.name].connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(stmt)
            for rows in result.partitions(batch_size):
                yield Batch(category, source.name, table.name, ("id", *columns), rows)

    @staticmethod
    def _vault(session, subject, source, table, category, columns) -> Iterator[Batch]:
        from privacy_service.subjects.vault_tables import VAULT_TABLES

        model = VAULT_TABLES[table.name].model
        documents = session.scalars(
            select(model).where(model.subject_id == subject.id).order_by(model.id)
        ).all()
        if documents:
            rows = [(d.id, *(getattr(d, c) for c in columns)) for d in documents]
            yield Batch(category, source.name, table.name, ("id", *columns), rows)


def engines_for(datamap: DataMap, settings, make_engine) -> dict[str, Engine]:
    """An engine per SQL source, from the setting each source names (no connection yet)."""
    return {
        name: make_engine(getattr(settings, source.url_setting), immediate=False)
        for name, source in datamap.sources.items()
        if source.kind == "sql"
    }
