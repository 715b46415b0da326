"""``privacy datamap check``: whether the data map matches the live databases.

Every SQL source is connected to and inspected: its tables, the columns the map names (fields,
links, restriction flags), the identity table's key, contact and closure columns, and primary
keys. Each problem names the data map's file and line, the source, and what is wrong.
``advice`` then says which contact columns no index serves (each lookup would read the whole
customer table) and the statement that creates one.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

from sqlalchemy import Column, MetaData, String, Table, inspect, text
from sqlalchemy.engine import Engine

from privacy_service.datamap.http_source import HttpSourceError
from privacy_service.datamap.lookup import lookup_expression
from privacy_service.policies.datamap import DataMap, SourceSpec


def check(datamap: DataMap, engines: Mapping[str, Engine]) -> list[str]:
    """Problems found (empty when every table and column the map names exists)."""
    problems: list[str] = []
    for name, source in datamap.sources.items():
        if source.kind == "vault":
            continue
        where = f"{datamap.where(name)}: source {name!r}"
        engine = engines.get(name)
        if engine is None:
            problems.append(f"{where}: no connection ({source.url_name} not set)")
            continue
        if source.kind == "http":
            try:
                engine.ping()
            except Exception as exc:
                problems.append(f"{where}: cannot use {source.url_name}: {_reason(exc)}")
            continue
        try:
            problems += [f"{where}: {p}" for p in _check_source(source, engine)]
        except Exception as exc:  # unreachable, bad credentials, missing database
            problems.append(
                f"{where}: cannot connect through {source.url_name} ({type(exc).__name__})"
            )
    return problems


def _needed(source: SourceSpec, table) -> list[tuple[str, str]]:
    needed = [(f.name, "field") for f in table.fields]
    if table.link_column:
        needed.append((table.link_column, "link column"))
    if table.restrict_column:
        needed.append((table.restrict_column, "restrict_column"))
    if table.name == source.identity_table:
        needed.append((source.identity_column, "identity column"))
        needed += [(column, f"{kind} contact column") for kind, column in source.contacts.items()]
        needed += [(column, f"{kind} lookup column") for kind, column in source.lookup.items()]
        if source.close_column:
            needed.append((source.close_column, "close column"))
    return needed


def _check_source(source: SourceSpec, engine: Engine) -> list[str]:
    problems = []
    with engine.connect() as conn:
        inspector = inspect(conn)
        existing = set(inspector.get_table_names())
        for table in source.tables.values():
            if table.name not in existing:
                problems.append(f"table {table.name!r} does not exist")
                continue
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            for column, role in _needed(source, table):
                if column not in columns:
                    problems.append(f"{table.name}.{column}: no such column ({role})")
            if not inspector.get_pk_constraint(table.name).get("constrained_columns"):
                problems.append(f"table {table.name!r} has no primary key")
            if table.parent_table and table.parent_table in existing:
                parent_columns = {c["name"] for c in inspector.get_columns(table.parent_table)}
                if table.parent_column not in parent_columns:
                    problems.append(
                        f"{table.name}.link: {table.parent_table}.{table.parent_column} "
                        "does not exist"
                    )
    return problems


def _reason(exc: Exception) -> str:

    # Our own messages name the source and table, never a URL or a value.
    return str(exc).split("): ", 1)[-1] if isinstance(exc, HttpSourceError) else type(exc).__name__


def advice(datamap: DataMap, engines: Mapping[str, Engine]) -> list[str]:
    """Contact columns whose lookup no index serves, each with the statement that adds one.

    Sources that cannot be reached are left out (``check`` reports them).
    """
    out = []
    for name, source in datamap.sources.items():
        engine = engines.get(name)
        if source.kind != "sql" or not source.contacts or engine is None:
            continue
        where = f"{datamap.where(name)}: source {name!r}"
        try:
            out += [f"{where}: {line}" for line in _index_advice(source, engine)]
        except Exception:  # noqa: S112 - unreachable or broken: check() says so
            continue
    return out


def _index_advice(source: SourceSpec, engine: Engine) -> list[str]:
    table = source.identity_table
    with engine.connect() as conn:
        firsts = _first_keys(conn, table)
    out = []
    for kind, column in source.contacts.items():
        if kind in source.lookup:
            lookup = source.lookup[kind]
            if _norm(lookup) not in firsts:
                out.append(
                    f"{table}.{lookup} ({kind} lookup column) has no index, so each lookup "
                    f"reads the whole table: CREATE INDEX {table}_{lookup}_idx ON {table} "
                    f"({lookup})"
                )
            continue
        t = _bare(table, column)
        expr = str(
            lookup_expression(kind, t.c[column]).compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}
            )
        ).replace(f"{table}.", "")
        if _norm(expr) in firsts:
            continue
        if getattr(engine.dialect, "is_mariadb", False):
            add = (
                f"ALTER TABLE {table} ADD COLUMN {column}_lookup VARCHAR(255) AS ({expr}) "
                f"PERSISTENT, ADD INDEX ({column}_lookup); then declare identity.lookup: "
                f"{{{kind}: {column}_lookup}} (MariaDB cannot index an expression)"
            )
        else:
            add = f"CREATE INDEX {table}_{column}_lookup ON {table} (({expr}))"
        out.append(
            f"{table}.{column} ({kind} contact column): no index on the expression the lookup "
            f"compares, so each lookup reads the whole table: {add}"
        )
    return out


def _bare(table: str, column: str):
    return Table(table, MetaData(), Column(column, String))


def _first_keys(conn, table: str) -> set[str]:
    """The first key (a column or an expression, normalised) of every index of ``table``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite: "skipped expression-based index"
        indexes = inspect(conn).get_indexes(table)
    out = set()
    for index in indexes:
        names = index.get("column_names") or [None]
        first = names[0] if names[0] is not None else (index.get("expressions") or [None])[0]
        if first:
            out.add(_norm(first))
    if conn.dialect.name == "sqlite":  # expression indexes, from their CREATE statements
        rows = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
            {"t": table},
        )
        for (sql,) in rows:
            keys = _norm(sql or "").partition(f"on{_norm(table)}(")[2]
            out.add(_first_of(keys))
    return out


def _first_of(keys: str) -> str:
    """The first element of a normalised key list such as ``(lower(trim(mail))),x)``."""
    depth = 0
    for i, char in enumerate(keys):
        depth += char == "("
        depth -= char == ")"
        if depth < 0 or (depth == 0 and char == ","):
            return _unwrap(keys[:i])
    return _unwrap(keys)


def _unwrap(expr: str) -> str:
    while expr.startswith("(") and expr.endswith(")") and _first_of(expr[1:-1]) == expr[1:-1]:
        expr = expr[1:-1]
    return expr


def _norm(sql: str) -> str:
    """SQL compared loosely: case, spaces, quotes, casts and PostgreSQL's spelling of TRIM."""
    out = re.sub(r"\s+|[\"`]", "", sql.lower())
    out = re.sub(r"::[a-z]+(varying)?(\(\d+\))?", "", out).replace("bothfrom", "")
    return re.sub(r"(?<![\w])\((\w+)\)", r"\1", out)
