"""``privacy datamap check``: whether the data map matches the live databases."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from privacy_service.datamap.model import DataMap


def check(datamap: DataMap, engines: Mapping[str, Engine]) -> list[str]:
    """Problems found (empty when every table and column the map names exists)."""
    problems: list[str] = []
    for name, source in datamap.sources.items():
        if source.kind == "vault":
            continue
        try:
            inspector = inspect(engines[name])
            existing = set(inspector.get_table_names())
        except SQLAlchemyError as exc:
            problems.append(f"{name}: cannot connect ({type(exc).__name__})")
            continue
        for table in source.tables.values():
            if table.name not in existing:
                problems.append(f"{name}.{table.name}: no such table")
                continue
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            needed = [f.name for f in table.fields]
            if table.link_column:
                needed.append(table.link_column)
            if table.restrict_column:
                needed.append(table.restrict_column)
            if table.name == source.identity_table:
                needed.append(source.identity_column)
                if source.close_column:
                    needed.append(source.close_column)
            for column in needed:
                if column not in columns:
                    problems.append(f"{name}.{table.name}.{column}: no such column")
            if not inspector.get_pk_constraint(table.name).get("constrained_columns"):
                problems.append(f"{name}.{table.name}: has no primary key")
            if table.parent_table and table.parent_table in existing:
                parent_columns = {c["name"] for c in inspector.get_columns(table.parent_table)}
                if table.parent_column not in parent_columns:
                    problems.append(
                        f"{name}.{table.name}.link: {table.parent_table}.{table.parent_column} "
                        "does not exist"
                    )
    return problems
