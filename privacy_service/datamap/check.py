"""``privacy datamap check``: whether the data map matches the live databases.

Every SQL source is connected to and inspected: its tables, the columns the map names (fields,
links, restriction flags), the identity table's key, contact and closure columns, and primary
keys. Each problem names the data map's file and line, the source, and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from privacy_service.datamap.http_source import HttpSourceError
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
