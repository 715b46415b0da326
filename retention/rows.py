"""Row-level SQL both erasure and the retention purge build: conditions and anonymised values."""

from __future__ import annotations

from privacy_service.policies.datamap import TableSpec
from privacy_service.policies.erasure import Condition

# What replaces a name or an address part when a row is anonymised (not cleared).
REPLACEMENT = {"name": "匿名用户", "address_part": "已删除"}


def condition(table, cond: Condition):
    """``cond`` (column in / gt / eq value) as a SQLAlchemy clause on ``table``."""
    column = table.c[cond.column]
    if cond.op == "in":
        return column.in_(list(cond.value))
    if cond.op == "gt":
        return column > cond.value
    return column == cond.value


def anonymised(t, table: TableSpec, category: str) -> dict:
    """The column values that anonymise ``category``'s fields of a row of ``table``."""
    values = {}
    for field in table.fields:
        if field.category != category or field.anonymise == "keep":
            continue
        if field.anonymise == "replace":
            values[field.name] = REPLACEMENT.get(field.type, "已删除")
        else:
            values[field.name] = None if t.c[field.name].nullable else ""
    return values
