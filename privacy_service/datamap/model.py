"""The data map as code: ``policies/datamap.yaml`` validated into plain, frozen objects."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from privacy_service.subjects.vault_tables import VAULT_TABLES

FIELD_TYPES = (
    "text",
    "name",
    "email",
    "phone",
    "id_number",
    "address_part",
    "postal_code",
    "datetime",
    "date",
    "money",
    "integer",
    "boolean",
)
SUBJECT_FIELDS = ("external_ref", "id")
# Consents a customer can give or withdraw at once on their page (PIPL Art. 15): boolean fields.
CHOICES = ("marketing_email", "marketing_sms", "personalised_ads")
_NAME = validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


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
    identity_table: str | None = None
    identity_column: str | None = None
    subject_field: str = "external_ref"
    close_column: str | None = None
    close_value: str | None = None

    def chain(self, table: str) -> list[TableSpec]:
        """The tables from ``table`` up to (excluding) the identity table."""
        out, current = [], self.tables[table]
        while current.name != self.identity_table:
            out.append(current)
            current = self.tables[current.parent_table]
        return out


@dataclasses.dataclass(frozen=True)
class DataMap:
    """Every source, table and field of personal data."""

    sources: dict[str, SourceSpec]

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


class _Strict(Schema):
    class Meta:
        """Unknown keys are errors (typos must not pass silently)."""

        unknown = RAISE


class _Local(_Strict):
    zh = fields.String(required=True, data_key="zh-CN")
    en = fields.String(required=True)


class _Field(_Strict):
    category = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    sensitive = fields.Boolean(load_default=False)
    correctable = fields.Boolean(load_default=False)
    export = fields.Boolean(load_default=True)
    anonymise = fields.String(validate=validate.OneOf(("keep", "clear", "replace")))
    choice = fields.String(validate=validate.OneOf(CHOICES))

    @validates_schema
    def _choice_is_boolean(self, data, **_kwargs):
        if data.get("choice") and data.get("type") != "boolean":
            raise ValidationError("A choice is a boolean field.", field_name="choice")


class _Link(_Strict):
    column = fields.String(required=True, validate=_NAME)
    references = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$", error="Must look like table.column."
        ),
    )


class _Table(_Strict):
    link = fields.Nested(_Link)
    restrict_column = fields.String(validate=_NAME)
    fields = fields.Dict(
        keys=fields.String(validate=_NAME),
        values=fields.Nested(_Field),
        required=True,
        validate=validate.Length(min=1),
    )


class _Identity(_Strict):
    table = fields.String(required=True, validate=_NAME)
    column = fields.String(required=True, validate=_NAME)
    subject_field = fields.String(
        load_default="external_ref", validate=validate.OneOf(SUBJECT_FIELDS)
    )
    close = fields.Dict(
        keys=fields.String(validate=validate.OneOf(("column", "value"))), values=fields.String()
    )


class _Source(_Strict):
    title = fields.Nested(_Local, required=True)
    kind = fields.String(load_default="sql", validate=validate.OneOf(("sql", "vault")))
    url_setting = fields.String(validate=_NAME)
    identity = fields.Nested(_Identity)
    tables = fields.Dict(
        keys=fields.String(validate=_NAME),
        values=fields.Nested(_Table),
        required=True,
        validate=validate.Length(min=1),
    )


class DataMapSchema(_Strict):
    """The whole file, cross-checked: categories exist, links reach the identity table."""

    sources = fields.Dict(
        keys=fields.String(validate=_NAME),
        values=fields.Nested(_Source),
        required=True,
        validate=validate.Length(min=1),
    )

    def __init__(self, categories, settings_fields, **kwargs):
        super().__init__(**kwargs)
        self.known_categories = set(categories)
        self.settings_fields = set(settings_fields)

    @validates_schema
    def _cross_check(self, data, **_kwargs):
        errors: dict = {}
        for name, source in data.get("sources", {}).items():
            problems = _check_source(source, self.known_categories, self.settings_fields)
            if problems:
                errors[name] = problems
        if errors:
            raise ValidationError({"sources": errors})


def _check_source(source: dict, categories: set, settings_fields: set) -> dict:
    problems: dict = {}
    tables = source.get("tables", {})
    for table_name, table in tables.items():
        for field_name, field in table["fields"].items():
            if field["category"] not in categories:
                problems.setdefault("tables", {}).setdefault(table_name, {}).setdefault(
                    "fields", {}
                )[field_name] = {"category": [f"Unknown category; one of {sorted(categories)}."]}
    if source.get("kind") == "vault":
        for table_name, table in tables.items():
            if table_name not in VAULT_TABLES:
                problems.setdefault("tables", {})[table_name] = [
                    f"The vault holds {' and '.join(VAULT_TABLES)} only."
                ]
                continue
            allowed = VAULT_TABLES[table_name].fields
            for field_name in table["fields"]:
                if field_name not in allowed:
                    problems.setdefault("tables", {}).setdefault(table_name, {}).setdefault(
                        "fields", {}
                    )[field_name] = [f"Not a vault field; one of {list(allowed)}."]
        return problems
    if not source.get("url_setting"):
        problems["url_setting"] = ["Required for a SQL source."]
    elif source["url_setting"] not in settings_fields:
        problems["url_setting"] = ["Not a setting of the service (e.g. shop_database_url)."]
    identity = source.get("identity")
    if identity is None:
        problems["identity"] = ["Required for a SQL source."]
        return problems
    if identity["table"] not in tables:
        problems["identity"] = {"table": ["Not one of this source's tables."]}
        return problems
    for table_name, table in tables.items():
        where = problems.setdefault("tables", {})
        link = table.get("link")
        if table_name == identity["table"]:
            if link:
                where[table_name] = {"link": ["The identity table has no link."]}
            continue
        if not link:
            where[table_name] = {"link": ["Required: how do these rows reach the customer?"]}
            continue
        parent = link["references"].split(".")[0]
        if parent not in tables:
            where[table_name] = {
                "link": {"references": [f"{parent} is not a table of this source."]}
            }
            continue
        seen, current = {table_name}, parent
        while current != identity["table"]:
            nxt = tables[current].get("link")
            if not nxt or current in seen:
                where[table_name] = {
                    "link": {"references": ["Does not lead to the identity table."]}
                }
                break
            seen.add(current)
            current = nxt["references"].split(".")[0]
    if not problems.get("tables"):
        problems.pop("tables", None)
    return problems


def _default_anonymise(spec: dict) -> str:
    # Names and addresses are replaced, contact details and sensitive text cleared; amounts,
    # dates, codes and non-sensitive text stay (transaction records need them).
    if spec["type"] in ("name", "address_part"):
        return "replace"
    if spec["type"] in ("email", "phone", "id_number", "postal_code") or spec.get("sensitive"):
        return "clear"
    return "keep"


def _build(data: dict) -> DataMap:
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
                link_column=link["column"] if link else None,
                parent_table=parent,
                parent_column=parent_col or None,
            )
        identity = s.get("identity") or {}
        sources[name] = SourceSpec(
            name=name,
            title={"zh-CN": s["title"]["zh"], "en": s["title"]["en"]},
            kind=s["kind"],
            tables=tables,
            url_setting=s.get("url_setting"),
            identity_table=identity.get("table"),
            identity_column=identity.get("column"),
            subject_field=identity.get("subject_field", "external_ref"),
            close_column=(identity.get("close") or {}).get("column"),
            close_value=(identity.get("close") or {}).get("value"),
        )
    return DataMap(sources=sources)


def load_datamap(policies_dir: Path, categories, settings_fields) -> DataMap:
    """Load and validate ``datamap.yaml``; errors name the file, the line and the field."""
    from privacy_service.policies import load_yaml

    data = load_yaml(
        Path(policies_dir) / "datamap.yaml", DataMapSchema(categories, settings_fields)
    )
    return _build(data)
