"""Collection: every row of a subject's personal data, from every source, as a stream.

For each table the collector builds one query that joins up the table's links to the identity
table (order_items -> orders -> customers), filters on the subject's key, and streams the rows
in batches (server-side cursors on PostgreSQL), so memory stays flat whatever the row count.
This is what exports, corrections, deletions and retention build on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping

from sqlalchemy import MetaData, Table, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import Session

from privacy_service.datamap.sources import engines_for  # noqa: F401 - the older import path
from privacy_service.policies.datamap import DataMap, SourceSpec, TableSpec
from privacy_service.subjects.models import Subject
from privacy_service.subjects.vault_tables import VAULT_TABLES

DEFAULT_BATCH = 2000


@dataclasses.dataclass
class Batch:
    """Rows of one table for one category; ``columns[0]`` is the row's primary key."""

    category: str
    source: str
    table: str
    columns: tuple[str, ...]
    rows: list[tuple]


class Keys(tuple):
    """A subject's keys in one source (one per account the request covers)."""


def matches(column, key):
    """``column`` equals the key, or is one of several ``Keys``."""
    if isinstance(key, Keys):
        return column == key[0] if len(key) == 1 else column.in_(list(key))
    return column == key


def _typed(column, raw):
    try:
        return column.type.python_type(raw)
    except (TypeError, ValueError, NotImplementedError):
        return raw


class Collector:
    """Streams a subject's rows from the sources of a data map."""

    def __init__(self, datamap: DataMap, engines: Mapping[str, Engine]):
        self.datamap = datamap
        self.engines = engines
        self._tables: dict[tuple[str, str], Table] = {}

    def table(self, source: str, name: str) -> Table:
        """The reflected table of a source.

        Reflected once per engine, not per collector: reflecting the demo shop's tables takes
        about 150 ms on PostgreSQL, which every request's contact lookup (a new collector each)
        would pay again. Any error on the engine drops what it reflected, so a table an
        operator renamed or changed is reflected afresh when the failed step is retried.
        """
        key = (source, name)
        if key not in self._tables:
            engine = self.engines[source]
            wanted = tuple(sorted(self.datamap.sources[source].tables))
            shared = _reflected(engine)
            tables = shared.get(wanted)
            if tables is None:
                metadata = MetaData()
                with warnings.catch_warnings():
                    # The expression indexes the docs advise for contact lookups cannot be
                    # reflected; they are not needed here (only columns and keys are).
                    warnings.filterwarnings("ignore", r".*expression-based index", SAWarning)
                    metadata.reflect(engine, only=list(wanted))
                tables = shared[wanted] = dict(metadata.tables)
            for table_name, table in tables.items():
                self._tables[(source, table_name)] = table
        return self._tables[key]

    def subject_keys(self, source: SourceSpec, subject) -> list[str]:
        """The subject's account keys in ``source``, as text.

        A subject seen through a request (``subjects.scope.RequestSubject``) has exactly the
        accounts that request covers; a plain subject has every account linked to it, plus
        the directory field the source names (``subject_field``).
        """
        if source.key_from:  # the provider knows the customer by another source's key
            return self.subject_keys(self.datamap.sources[source.key_from], subject)
        scoped = getattr(subject, "accounts_by_source", None)
        if scoped is not None:
            return list(scoped.get(source.name, ()))
        keys = [link.account_key for link in subject.links if link.source == source.name]
        raw = getattr(subject, source.subject_field) if source.subject_field else None
        if raw is not None and str(raw) not in keys:
            keys.append(str(raw))
        return keys

    def subject_key(self, source: SourceSpec, subject) -> Keys | None:
        """The subject's keys in ``source`` (e.g. shop customer ids), typed like the column."""
        raw = self.subject_keys(source, subject)
        if not raw:
            return None
        if source.kind == "http":
            return Keys(raw)  # the provider's ids, as it gave them
        column = self.table(source.name, source.identity_table).c[source.identity_column]
        return Keys(_typed(column, value) for value in raw)

    def scope(self, source: SourceSpec, table: TableSpec, key):
        """How to reach a subject's rows of ``table``.

        Returns the FROM clause, the joined tables by name, and the WHERE condition on ``key``
        (one key, or ``Keys`` when the subject has several accounts in the source).
        Links are walked up to the identity table; the last link compares straight to the key
        (no join to the root).
        """
        joined, tables, root = self.root(source, table)
        return joined, tables, matches(root, key)

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

    def query(
        self,
        source: SourceSpec,
        table: TableSpec,
        columns: Iterable[str],
        key,
        parent_keys: Iterable[tuple[str, str]] = (),
    ):
        """SELECT a table's rows reaching ``key``.

        Columns: the primary key, the ancestors' ``parent_keys`` (table, field), ``columns``.
        """
        t = self.table(source.name, table.name)
        pk = next(iter(t.primary_key.columns))
        joined, tables, where = self.scope(source, table, key)
        parents = (tables[name].c[field].label(field) for name, field in parent_keys)
        return (
            select(pk, *parents, *(t.c[c] for c in columns))
            .select_from(joined)
            .where(where)
            .order_by(pk)
        )

    def collect(
        self,
        service_session: Session,
        subject: Subject,
        *,
        categories: Iterable[str] | None = None,
        exported_only: bool = True,
        batch_size: int = DEFAULT_BATCH,
        parent_keys: bool = False,
        on_source=None,
        skip_sources: Iterable[str] = (),
    ) -> Iterator[Batch]:
        """Every batch of the subject's rows, category by category, source by source.

        With ``parent_keys`` each row also carries its ancestors' human keys (an order item its
        order's ``order_no``) right after the primary key, named as the ancestor's field.
        ``on_source(name)`` is called before each source is read (per-source step records);
        ``skip_sources`` are left out (an operator marked them not applicable).
        """
        wanted = set(categories) if categories else None
        skipped = set(skip_sources)
        for source in self.datamap.sources.values():
            if source.name in skipped:
                continue
            if on_source is not None:
                on_source(source.name)
            yield from self._source(
                service_session, subject, source, wanted, exported_only, batch_size, parent_keys
            )

    def _source(
        self, service_session, subject, source, wanted, exported_only, batch_size, parent_keys
    ) -> Iterator[Batch]:
        """One source's batches; its SQL tables read through one connection and transaction.

        A connection per table cost a pool check-out, a ping and a rollback each
        (``bench/multisource.py``).
        """
        with contextlib.ExitStack() as stack:
            connection = _Lazy(self.engines.get(source.name), stack)
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
                    elif source.kind == "http":
                        yield from self._http(subject, source, table, category, columns)
                    else:
                        keys = (
                            [(t, f.name) for t, f in source.parent_keys(table.name)]
                            if parent_keys
                            else []
                        )
                        yield from self._sql(
                            subject,
                            source,
                            table,
                            category,
                            columns,
                            batch_size,
                            keys,
                            connection,
                        )

    def _sql(
        self, subject, source, table, category, columns, batch_size, parent_keys, connection
    ) -> Iterator[Batch]:
        key = self.subject_key(source, subject)
        if key is None:
            return
        stmt = self.query(source, table, columns, key, parent_keys)
        names = ("id", *(field for _table, field in parent_keys), *columns)
        engine = self.engines[source.name]
        conn = connection()
        if _plain_psycopg(stmt, engine.dialect):
            yield from self._psycopg(conn, stmt, batch_size, category, source, table, names)
            return
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(stmt)
        for rows in result.partitions(batch_size):
            yield Batch(category, source.name, table.name, names, rows)

    @staticmethod
    def _psycopg(conn, stmt, batch_size, category, source, table, names) -> Iterator[Batch]:
        """The same rows through a psycopg server-side cursor, as the driver's tuples.

        Used when no column needs a result processor, so the tuples are what SQLAlchemy would
        return; skipping its Row objects saves about a third of a million-row export's reads.
        """
        # render_postcompile: an account list (``IN`` over several keys) becomes plain parameters.
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        driver = conn.connection.dbapi_connection
        with driver.cursor(name=f"collect_{uuid.uuid4().hex}") as cursor:
            cursor.itersize = batch_size
            cursor.execute(str(compiled), compiled.params)
            while rows := cursor.fetchmany(batch_size):
                yield Batch(category, source.name, table.name, names, rows)
                if len(rows) < batch_size:
                    break  # the last batch: no round trip to learn that nothing follows

    def _http(self, subject, source, table, category, columns) -> Iterator[Batch]:
        keys = self.subject_key(source, subject)
        if not keys:
            return
        client = self.engines[source.name]
        key_field = table.http["key"]
        rows = [
            (record.get(key_field), *(record.get(c) for c in columns))
            for record in client.account_records(table, keys)
        ]
        if rows:
            yield Batch(category, source.name, table.name, ("id", *columns), rows)

    @staticmethod
    def _vault(session, subject, source, table, category, columns) -> Iterator[Batch]:

        model = VAULT_TABLES[table.name].model
        documents = session.scalars(
            select(model).where(model.subject_id == subject.id).order_by(model.id)
        ).all()
        if documents:
            rows = [(d.id, *(getattr(d, c) for c in columns)) for d in documents]
            yield Batch(category, source.name, table.name, ("id", *columns), rows)


class _Lazy:
    """A source's connection, opened at first use and closed (rolled back) with ``stack``."""

    def __init__(self, engine, stack: contextlib.ExitStack):
        self.engine, self.stack, self.conn = engine, stack, None

    def __call__(self):
        if self.conn is None:
            self.conn = self.stack.enter_context(self.engine.connect())
        return self.conn


_REFLECTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _reflected(engine: Engine) -> dict:
    """Tables reflected through ``engine``, by the data map's names; emptied on any error."""
    cache = _REFLECTED.get(engine)
    if cache is None:
        cache = _REFLECTED[engine] = {}
        event.listen(engine, "handle_error", lambda _context: cache.clear())
    return cache


def _plain_psycopg(stmt, dialect) -> bool:
    """psycopg, and no selected column has a result processor (SQLite's DATETIME has one)."""
    return dialect.driver == "psycopg" and all(
        column.type.dialect_impl(dialect).result_processor(dialect, None) is None
        for column in stmt.selected_columns
    )
