"""The data map as code: ``policies/datamap.yaml`` validated into plain, frozen objects."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from privacy_service.policies._base import bilingual, compose_yaml, line_of, load_yaml
from privacy_service.policies.datamap_schema import DataMapSchema


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One column holding personal data."""

    name: str
    category: str
    type: str
    sensitive: bool
    correctable: bool
    export: bool
    anonymise: str = "keep"  # keep | clear | replace
    # Money only: the stored amount is in minor units (fen) or major units (yuan), ``decimals``
    # digits after the point (ISO 4217 minor unit), in ``currency`` or in the currency a column
    # of the same table names (``currency_field``, falling back to ``currency``).
    amount_in: str = "minor"
    decimals: int = 2
    currency: str | None = None
    currency_field: str | None = None
    # A consent the customer switches on their page at once, without review (CHOICES).
    choice: str | None = None


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A table and how its rows reach the customer (``link``: column -> parent table.column)."""

    name: str
    fields: tuple[FieldSpec, ...]
    restrict_column: str | None = None
    link_column: str | None = None
    parent_table: str | None = None
    parent_column: str | None = None
    human_key: str | None = None  # the field a person knows a row by (order_no), shown on children
    http: dict | None = None  # HTTP sources: find, key, erase, update, anonymise

    def categories(self) -> list[str]:
        """Categories of this table's fields, in declaration order."""
        return list(dict.fromkeys(f.category for f in self.fields))


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A source system: a SQL database of the shop, or the service's own vault."""

    name: str
    title: dict[str, str]
    kind: str
    tables: dict[str, TableSpec]
    url_setting: str | None = None
    url_env: str | None = None
    identity_table: str | None = None
    identity_column: str | None = None
    subject_field: str | None = "external_ref"
    close_column: str | None = None
    close_value: str | None = None
    currency: str = "CNY"  # of money fields that name no currency
    # Contact kind (email, phone) -> column of the identity table that holds it.
    contacts: dict[str, str] = dataclasses.field(default_factory=dict)
    key_from: str | None = None  # HTTP: the source whose account keys this provider uses
    # Contact kind -> a column holding that contact already normalised (``identity.lookup``).
    lookup: dict[str, str] = dataclasses.field(default_factory=dict)
    line: int = 1  # where the source starts in datamap.yaml (for messages)
    http: dict | None = None  # HTTP sources: token_env, timeout_seconds, retries

    @property
    def url_name(self) -> str:
        """How the source's URL is configured, for messages (never the URL itself)."""
        if self.url_env:
            return self.url_env
        return f"PRIVACY_{(self.url_setting or '').upper()}"

    def chain(self, table: str) -> list[TableSpec]:
        """The tables from ``table`` up to (excluding) the identity table."""
        out, current = [], self.tables[table]
        while current.name != self.identity_table:
            out.append(current)
            current = self.tables[current.parent_table]
        return out

    def lineage(self, table: str) -> list[str]:
        """``table``, its ancestors and the identity table: where a period may be anchored."""
        return [t.name for t in self.chain(table)] + [self.identity_table]

    def parent_keys(self, table: str) -> list[tuple[str, FieldSpec]]:
        """The exported human keys of ``table``'s ancestors, nearest first: (table, field).

        An order item carries its order's ``order_no``; the identity table itself is not joined
        (every row is the customer's), so it contributes none.
        """
        if table not in self.tables or self.kind != "sql":
            return []
        out = []
        for ancestor in self.chain(table)[1:]:
            field = next((f for f in ancestor.fields if f.name == ancestor.human_key), None)
            if field is not None and field.export:
                out.append((ancestor.name, field))
        return out


@dataclasses.dataclass(frozen=True)
class DataMap:
    """Every source, table and field of personal data."""

    sources: dict[str, SourceSpec]
    path: str = "datamap.yaml"

    def where(self, source: str) -> str:
        """``file:line`` of a source, for messages."""
        return f"{self.path}:{self.sources[source].line}"

    def contact_sources(self, kind: str | None = None) -> list[SourceSpec]:
        """SQL and HTTP sources whose identity table declares contacts (of ``kind``)."""
        return [
            s
            for s in self.sources.values()
            if s.kind in ("sql", "http") and s.contacts and (kind is None or kind in s.contacts)
        ]

    def fields(self):
        """Every (source, table, field) triple."""
        for source in self.sources.values():
            for table in source.tables.values():
                for field in table.fields:
                    yield source, table, field

    def categories(self) -> list[str]:
        """Categories that have at least one field somewhere."""
        return list(dict.fromkeys(f.category for _, _, f in self.fields()))

    def choices(self) -> dict[str, list[tuple[SourceSpec, TableSpec, FieldSpec]]]:
        """Each consent (``marketing_email``...) -> the fields that record it."""
        out: dict = {}
        for source, table, field in self.fields():
            if field.choice:
                out.setdefault(field.choice, []).append((source, table, field))
        return out

    def correctable(self) -> dict[tuple[str, str], list[tuple[SourceSpec, TableSpec, FieldSpec]]]:
        """``(category, field name)`` -> where customers may correct it."""
        out: dict = {}
        for source, table, field in self.fields():
            if field.correctable:
                out.setdefault((field.category, field.name), []).append((source, table, field))
        return out


def _default_anonymise(spec: dict) -> str:
    # Names and addresses are replaced, contact details and sensitive text cleared; amounts,
    # dates, codes and non-sensitive text stay (transaction records need them).
    if spec["type"] in ("name", "address_part"):
        return "replace"
    if spec["type"] in ("email", "phone", "id_number", "postal_code") or spec.get("sensitive"):
        return "clear"
    return "keep"


def build(data: dict, path: Path | None = None, lines: dict | None = None) -> DataMap:
    """The frozen data map from a validated file's data (``lines``: where each source starts)."""
    sources = {}
    for name, s in data["sources"].items():
        tables = {}
        for table_name, t in s["tables"].items():
            link = t.get("link")
            parent, _, parent_col = link["references"].partition(".") if link else (None, "", None)
            tables[table_name] = TableSpec(
                name=table_name,
                fields=tuple(
                    FieldSpec(
                        name=f,
                        **{**spec, "anonymise": spec.get("anonymise") or _default_anonymise(spec)},
                    )
                    for f, spec in t["fields"].items()
                ),
                restrict_column=t.get("restrict_column"),
                http={
                    "find": t["find"],
                    "key": t["key"],
                    **{call: t.get(call) for call in ("erase", "update", "anonymise")},
                }
                if t.get("find")
                else None,
                link_column=link["column"] if link else None,
                parent_table=parent,
                parent_column=parent_col or None,
                human_key=t.get("human_key"),
            )
        identity = s.get("identity") or {}
        sources[name] = SourceSpec(
            name=name,
            title=bilingual(s["title"]) if s.get("title") else {"zh-CN": name, "en": name},
            kind=s["kind"],
            tables=tables,
            url_setting=s.get("url_setting"),
            url_env=s.get("url_env"),
            contacts=dict(identity.get("contacts") or {}),
            lookup=dict(identity.get("lookup") or {}),
            key_from=identity.get("key_from"),
            line=(lines or {}).get(name, 1),
            http={k: s.get(k) for k in ("token_env", "timeout_seconds", "retries")}
            if s["kind"] == "http"
            else None,
            identity_table=identity.get("table"),
            identity_column=identity.get("column"),
            subject_field=identity.get("subject_field")
            or (None if identity.get("contacts") else "external_ref"),
            close_column=(identity.get("close") or {}).get("column"),
            close_value=(identity.get("close") or {}).get("value"),
            currency=s.get("currency", "CNY"),
        )
    return DataMap(sources=sources, path=str(path or "datamap.yaml"))


def load_datamap(policies_dir: Path, categories, settings_fields) -> DataMap:
    """Load and validate ``datamap.yaml``; errors name the file, the line and the field."""
    path = Path(policies_dir) / "datamap.yaml"
    data = load_yaml(path, DataMapSchema(categories, settings_fields))
    node = compose_yaml(path.read_text(encoding="utf-8"))
    lines = {name: line_of(node, ("sources", name)) for name in data["sources"]}
    return build(data, path, lines)
