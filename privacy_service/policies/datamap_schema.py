"""The data map's schema: ``policies/datamap.yaml`` checked key by key and across sources.

``DataMapSchema`` validates the file (unknown keys, categories, links that reach the identity
table, money fields, vault and HTTP sources); ``policies.datamap`` builds the frozen objects.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from privacy_service.policies import datamap_http as http_model
from privacy_service.policies._base import Strict, Text

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
CONTACT_KINDS = ("email", "phone")
# The service's own tables a ``kind: vault`` source may list, and the fields it may name
# (privacy_service.subjects.vault_tables maps each to its model).
VAULT_TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "identity_documents": (
        "kind",
        "id_number",
        "holder_name",
        "created_at",
        "last_read_at",
        "created_by",
    ),
    "correction_history": (
        "corrected_category",
        "corrected_table",
        "record_id",
        "field",
        "old_value",
        "new_value",
        "approved_by",
        "approved_at",
        "request_id",
    ),
}
# Consents a customer can give or withdraw at once on their page (PIPL Art. 15): boolean fields.
CHOICES = ("marketing_email", "marketing_sms", "personalised_ads")
_NAME = validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code such as CNY.")
# An environment variable's name; the URL itself (credentials included) never lives in YAML.
_ENV = validate.Regexp(
    r"^[A-Z][A-Z0-9_]{1,100}$", error="An environment variable name (e.g. PRIVACY_SOURCE_CRM_URL)."
)


class _Field(Strict):
    category = fields.String(required=True)
    # Optional: plain text unless it says otherwise (the type validates corrections).
    type = fields.String(load_default="text", validate=validate.OneOf(FIELD_TYPES))
    sensitive = fields.Boolean(load_default=False)
    correctable = fields.Boolean(load_default=False)
    export = fields.Boolean(load_default=True)
    anonymise = fields.String(validate=validate.OneOf(("keep", "clear", "replace")))
    amount_in = fields.String(validate=validate.OneOf(("minor", "major")))
    decimals = fields.Integer(validate=validate.Range(min=0, max=4))
    currency = fields.String(validate=_CURRENCY)
    currency_field = fields.String(validate=_NAME)
    choice = fields.String(validate=validate.OneOf(CHOICES))

    @validates_schema
    def _money_only(self, data, **_kwargs):
        extra = {"amount_in", "decimals", "currency", "currency_field"} & set(data)
        if extra and data.get("type") != "money":
            raise ValidationError(f"Only money fields take {', '.join(sorted(extra))}.")

    @validates_schema
    def _choice_is_boolean(self, data, **_kwargs):
        if data.get("choice") and data.get("type") != "boolean":
            raise ValidationError("A choice is a boolean field.", field_name="choice")


class _Link(Strict):
    column = fields.String(required=True, validate=_NAME)
    references = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$", error="Must look like table.column."
        ),
    )


class _Table(Strict):
    link = fields.Nested(_Link)
    find = fields.Nested(http_model.Find)  # HTTP sources only
    key = fields.String(load_default="id")
    erase = fields.Nested(http_model.Erase)
    update = fields.Nested(http_model.Change)
    anonymise = fields.Nested(http_model.Change)
    restrict_column = fields.String(validate=_NAME)
    human_key = fields.String(validate=_NAME)
    fields = fields.Dict(
        keys=fields.String(validate=_NAME),
        values=fields.Nested(_Field),
        required=True,
        validate=validate.Length(min=1),
    )


class _Identity(Strict):
    table = fields.String(required=True, validate=_NAME)
    column = fields.String(required=True, validate=_NAME)
    # Which directory field holds this source's key (sources without ``contacts`` default to
    # external_ref, the shop's customer id); a source with contacts uses it only when declared.
    subject_field = fields.String(validate=validate.OneOf(SUBJECT_FIELDS))
    close = fields.Dict(
        keys=fields.String(validate=validate.OneOf(("column", "value"))), values=fields.String()
    )
    # How a contact finds the customer: {email: <column>, phone: <column>}.
    contacts = fields.Dict(
        keys=fields.String(validate=validate.OneOf(CONTACT_KINDS)),
        values=fields.String(validate=_NAME),
        validate=validate.Length(min=1),
    )
    # HTTP only: the provider knows customers by their key in another source (the shop's
    # customer id), not by a contact: {key} in its paths is that key.
    key_from = fields.String(validate=_NAME)
    # Optional, SQL only: a column holding the contact already normalised (a generated column
    # with an index, for databases that cannot index an expression: MariaDB).
    lookup = fields.Dict(
        keys=fields.String(validate=validate.OneOf(CONTACT_KINDS)),
        values=fields.String(validate=_NAME),
    )

    @validates_schema
    def _lookup_for_contacts(self, data, **_kwargs):
        extra = set(data.get("lookup") or {}) - set(data.get("contacts") or {})
        if extra:
            raise ValidationError(
                f"Only for contacts the source declares (not {', '.join(sorted(extra))}).",
                field_name="lookup",
            )


class _Source(Strict):
    title = fields.Nested(Text)  # optional: the source's name in both languages
    kind = fields.String(load_default="sql", validate=validate.OneOf(("sql", "vault", "http")))
    token_env = fields.String(validate=_ENV)
    timeout_seconds = fields.Float(load_default=5.0, validate=validate.Range(min=0.1, max=120))
    retries = fields.Integer(load_default=2, validate=validate.Range(min=0, max=10))
    url_setting = fields.String(validate=_NAME)
    currency = fields.String(validate=_CURRENCY)
    url_env = fields.String(validate=_ENV)
    identity = fields.Nested(_Identity)
    tables = fields.Dict(
        keys=fields.String(validate=_NAME),
        values=fields.Nested(_Table),
        required=True,
        validate=validate.Length(min=1),
    )


class DataMapSchema(Strict):
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
        sources = data.get("sources", {})
        for name, source in sources.items():
            problems = _check_source(source, self.known_categories, self.settings_fields)
            key_from = (source.get("identity") or {}).get("key_from")
            if key_from and (
                key_from == name
                or key_from not in sources
                or sources[key_from].get("kind") != "sql"
            ):
                problems.setdefault("identity", {})
                if isinstance(problems["identity"], dict):
                    problems["identity"]["key_from"] = ["Must name another, SQL source."]
            if problems:
                errors[name] = problems
        if errors:
            raise ValidationError({"sources": errors})


def _check_source(source: dict, categories: set, settings_fields: set) -> dict:
    problems: dict = {}
    tables = source.get("tables", {})
    _check_keys_and_money(tables, problems)
    for table_name, table in tables.items():
        for field_name, field in table["fields"].items():
            if field["category"] not in categories:
                problems.setdefault("tables", {}).setdefault(table_name, {}).setdefault(
                    "fields", {}
                )[field_name] = {"category": [f"Unknown category; one of {sorted(categories)}."]}
    if source.get("kind") == "http":
        problems.update(http_model.check_http_source(source))
        return problems
    if source.get("kind") == "vault":
        for table_name, table in tables.items():
            if table_name not in VAULT_TABLE_FIELDS:
                problems.setdefault("tables", {})[table_name] = [
                    f"The vault holds {' and '.join(VAULT_TABLE_FIELDS)} only."
                ]
                continue
            allowed = VAULT_TABLE_FIELDS[table_name]
            for field_name in table["fields"]:
                if field_name not in allowed:
                    problems.setdefault("tables", {}).setdefault(table_name, {}).setdefault(
                        "fields", {}
                    )[field_name] = [f"Not a vault field; one of {list(allowed)}."]
        return problems
    for table_name, table in tables.items():
        calls = sorted({"find", "erase", "update", "anonymise"} & set(table))
        if calls:
            problems.setdefault("tables", {})[table_name] = {
                call: ["Only tables of an HTTP source (kind: http) take this."] for call in calls
            }
    if source.get("url_env") and source.get("url_setting"):
        problems["url_env"] = ["Give url_env or url_setting, not both."]
    elif source.get("url_setting"):
        if source["url_setting"] not in settings_fields:
            problems["url_setting"] = ["Not a setting of the service (e.g. shop_database_url)."]
    elif not source.get("url_env"):
        problems["url_env"] = [
            "Required for a SQL source: the environment variable holding its URL "
            "(e.g. PRIVACY_SOURCE_SHOP_URL)."
        ]
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


def _check_keys_and_money(tables: dict, problems: dict) -> None:
    """Check human keys and currency fields.

    ``human_key`` names a field of its table that no child table repeats; a money field's
    ``currency_field`` is a field of the same table and category.
    """

    def at(table_name: str) -> dict:
        return problems.setdefault("tables", {}).setdefault(table_name, {})

    keys = {}
    for table_name, table in tables.items():
        key = table.get("human_key")
        if key is None:
            continue
        if key not in table["fields"]:
            at(table_name)["human_key"] = ["Not a field of this table."]
        else:
            keys[table_name] = key
    for table_name, table in tables.items():
        parent = (table.get("link") or {}).get("references", "").split(".")[0]
        seen = {table_name}
        while parent in tables and parent not in seen:  # cycles are reported elsewhere
            if keys.get(parent) in table["fields"]:
                at(table_name).setdefault("fields", {})[keys[parent]] = [
                    f"Clashes with the human key of {parent}, which rows of this table carry."
                ]
            seen.add(parent)
            parent = (tables[parent].get("link") or {}).get("references", "").split(".")[0]
        for field_name, field in table["fields"].items():
            other = field.get("currency_field")
            if other and (
                other not in table["fields"]
                or table["fields"][other]["category"] != field["category"]
            ):
                at(table_name).setdefault("fields", {})[field_name] = {
                    "currency_field": ["Must be a field of this table, in the same category."]
                }
