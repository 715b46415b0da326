"""``privacy datamap scan``: draft a data map from a live database, for an operator to edit.

Reflects every table and foreign key, picks the customer table (the one most tables lead to,
with contact columns), finds each table's path to it, and proposes each column's category, type
and sensitivity from the table's and column's names and a small sample of values (e-mail
addresses, mainland mobile numbers, resident ID numbers with a valid checksum, IP addresses,
long free text). What it is unsure of is marked ``# check`` in the YAML it prints.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections import deque

from sqlalchemy import Boolean, Date, DateTime, Integer, MetaData, Numeric, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SAWarning

from privacy_service.crypto.normalize import InvalidValue, normalize

SAMPLE = 50
CUSTOMER_TABLES = ("customers", "customer", "members", "member", "users", "user", "accounts")
# Table-name words -> category (first match wins; order matters: customs before orders).
TABLE_CATEGORIES = (
    (r"customs|declaration|identity|id_card", "identity_documents"),
    (r"address", "addresses"),
    (r"membership|loyalty|vip|tier", "memberships"),
    (r"household|family", "household"),
    (r"wish|favou?rite|cart", "lists"),
    (r"review|profile|rating|comment", "reviews_profile"),
    (r"payment|card|refund|gift|wallet|invoice|balance", "payments"),
    (r"order|purchase|item|line|shipment|delivery|return", "orders"),
    (r"preference|setting|consent|subscription|notification", "preferences"),
    (r"browsing|event|view|search|click|visit", "browsing"),
    (r"support|ticket|call|chat|desk|contact|note", "support_contacts"),
    (r"device|session|login", "devices"),
    (r"list", "lists"),
    (r"customer|member|user|account", "account"),
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_IP = re.compile(r"^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-f:]{6,}$", re.IGNORECASE)


@dataclasses.dataclass
class Proposal:
    """One column's proposed field: category, type, sensitivity, and whether it is a guess."""

    name: str
    category: str
    type: str
    sensitive: bool = False
    unsure: bool = False


def _table_category(name: str) -> str | None:
    for pattern, category in TABLE_CATEGORIES:
        if re.search(pattern, name, re.IGNORECASE):
            return category
    return None


def _looks(values: list, check) -> bool:
    strings = [v for v in values if isinstance(v, str) and v.strip()]
    return bool(strings) and sum(1 for v in strings if check(v)) >= 0.8 * len(strings)


def _valid(kind: str):
    def check(value: str) -> bool:
        try:
            normalize(kind, value)
            return True
        except InvalidValue:
            return False

    return check


def _column_type(column, values: list) -> tuple[str, bool, bool]:
    """(type, sensitive, unsure) from the column's name, SQL type and sample values."""
    name, sql = column.name.lower(), column.type
    if _looks(values, _valid("id_number")) or re.search(r"id_?(number|card|no)\b", name):
        return "id_number", True, False
    if "email" in name or "mail" in name or _looks(values, lambda v: bool(_EMAIL.match(v))):
        return "email", False, False
    if re.search(r"phone|mobile|tel\b|cell", name) or _looks(values, _valid("phone")):
        return "phone", True, False
    if re.search(r"(^|_)ip(_|$)|ip_address", name) or _looks(values, lambda v: bool(_IP.match(v))):
        return "text", True, False
    if isinstance(sql, Boolean) or re.match(r"(is|has)_", name):
        return "boolean", False, False
    if isinstance(sql, DateTime) or name.endswith(("_at", "_time")):
        return "datetime", False, False
    if isinstance(sql, Date) or name.endswith(("_date", "_on")):
        return "date", False, False
    if re.search(r"cents|amount|price|total|balance|fee", name):
        return "money", False, False
    if re.search(r"postal|zip", name):
        return "postal_code", False, False
    if re.search(r"province|city|district|street|address|line\d", name):
        return "address_part", name in ("street", "address") or "line" in name, False
    if re.search(r"(^|_)name$|recipient|holder|nickname|full_name", name) and "product" not in name:
        return "name", "nickname" not in name, False
    if isinstance(sql, Integer | Numeric):
        return "integer", False, False
    long_text = [v for v in values if isinstance(v, str) and len(v) > 80]
    sensitive = bool(long_text) or re.search(r"body|note|transcript|message|query|bio", name)
    return "text", bool(sensitive), not values


@dataclasses.dataclass
class Draft:
    """A drafted source: its customer table, each table's link and proposed fields."""

    identity_table: str
    identity_column: str
    contacts: dict[str, str]
    tables: dict[str, dict]
    unlinked: list[str]


def _customer_table(metadata: MetaData) -> str:
    referenced: dict[str, int] = {}
    for table in metadata.tables.values():
        for fk in table.foreign_keys:
            referenced[fk.column.table.name] = referenced.get(fk.column.table.name, 0) + 1

    def score(name: str) -> tuple:
        columns = {c.name.lower() for c in metadata.tables[name].columns}
        contact = any("mail" in c or "phone" in c or "mobile" in c for c in columns)
        return (name.lower() in CUSTOMER_TABLES, contact, referenced.get(name, 0))

    return max(metadata.tables, key=score)


def _paths(metadata: MetaData, root: str) -> dict[str, tuple[str, str, str] | None]:
    """Each table reaching ``root``: (link column, parent table, parent column); root: None."""
    links: dict[str, tuple[str, str, str] | None] = {root: None}
    queue = deque([root])
    while queue:
        parent = queue.popleft()
        for table in metadata.tables.values():
            if table.name in links:
                continue
            for fk in table.foreign_keys:
                if fk.column.table.name == parent:
                    links[table.name] = (fk.parent.name, parent, fk.column.name)
                    queue.append(table.name)
                    break
    return links


def scan(engine: Engine, *, identity: str | None = None) -> Draft:
    """Reflect ``engine``'s database and draft its data map."""
    metadata = MetaData()
    with warnings.catch_warnings():
        # Expression indexes (as the docs advise for contact lookups) are not reflected.
        warnings.filterwarnings("ignore", r".*expression-based index", SAWarning)
        metadata.reflect(engine)
    root = identity or _customer_table(metadata)
    links = _paths(metadata, root)
    pk = next(iter(metadata.tables[root].primary_key.columns)).name
    contacts = {}
    tables: dict[str, dict] = {}
    with engine.connect() as conn:
        for name in sorted(links, key=lambda n: (n != root, n)):
            table = metadata.tables[name]
            link = links[name]
            sample = conn.execute(select(table).limit(SAMPLE)).mappings().all()
            category = _table_category(name) if name != root else "account"
            parent = link[1] if link else None
            while category is None and parent is not None:
                category = _table_category(parent)  # order_lines -> orders
                parent = links[parent][1] if links[parent] else None
            skip = {c.name for c in table.primary_key.columns} | ({link[0]} if link else set())
            fields, restrict = {}, None
            for column in table.columns:
                if column.name in skip:
                    continue
                if column.name.lower() in ("restricted", "is_restricted"):
                    restrict = column.name
                    continue
                values = [row[column.name] for row in sample if row[column.name] is not None]
                kind, sensitive, unsure = _column_type(column, values)
                if name == root and kind in ("email", "phone"):
                    contacts.setdefault(kind, column.name)
                fields[column.name] = Proposal(
                    column.name,
                    category or "account",
                    kind,
                    sensitive,
                    unsure or category is None,
                )
            tables[name] = {"link": link, "fields": fields, "restrict": restrict}
    unlinked = sorted(set(metadata.tables) - set(links))
    return Draft(root, pk, contacts, tables, unlinked)


def to_yaml(draft: Draft, *, source: str, url_env: str) -> str:
    """The draft as ``datamap.yaml`` text, with ``# check`` where the scanner guessed."""
    contacts = ", ".join(f"{k}: {v}" for k, v in draft.contacts.items())
    lines = [
        "# Drafted by `privacy datamap scan`: check every category, type and `sensitive`,",
        "# especially lines marked `# check`; then run `privacy datamap check`.",
        "sources:",
        f"  {source}:",
        f"    title: {{zh-CN: {source}, en: {source}}}",
        f"    url_env: {url_env}",
        f"    identity: {{table: {draft.identity_table}, column: {draft.identity_column}, "
        f"contacts: {{{contacts}}}}}",
        "    tables:",
    ]
    for name, table in draft.tables.items():
        if not table["fields"]:
            continue
        lines.append(f"      {name}:")
        if table["link"]:
            column, parent, parent_column = table["link"]
            lines.append(
                f"        link: {{column: {column}, references: {parent}.{parent_column}}}"
            )
        if table["restrict"]:
            lines.append(f"        restrict_column: {table['restrict']}")
        lines.append("        fields:")
        for field in table["fields"].values():
            extra = ", sensitive: true" if field.sensitive else ""
            mark = "  # check" if field.unsure else ""
            lines.append(
                f"          {field.name}: {{category: {field.category}, type: {field.type}{extra}}}"
                f"{mark}"
            )
    for name in draft.unlinked:
        lines.append(f"# {name}: no foreign key leads to {draft.identity_table}; not mapped")
    return "\n".join(lines) + "\n"
