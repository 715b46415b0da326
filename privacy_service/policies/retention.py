"""``policies/retention.yaml``: the rules of the nightly purge, validated against the data map."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from marshmallow import ValidationError, fields, validate, validates_schema

from privacy_service.policies._base import Period as _OneUnit
from privacy_service.policies._base import Strict, Text, bilingual, load_yaml
from privacy_service.policies.erasure import WHEN, Condition, conditions


@dataclasses.dataclass(frozen=True)
class Period:
    """A calendar period: days, months or years."""

    days: int = 0
    months: int = 0
    years: int = 0


@dataclasses.dataclass(frozen=True)
class Rule:
    """Rows of ``tables`` whose trigger is older than ``period`` get ``action``."""

    id: str
    category: str
    tables: tuple[str, ...]
    trigger_table: str
    trigger_field: str
    period: Period
    action: str
    basis: dict[str, str]


@dataclasses.dataclass(frozen=True)
class IdentityDocumentRule:
    """Vault ID numbers: deleted ``days`` after the last clearance unless an order is open."""

    after_table: str
    after_field: str
    days: int
    open_table: str
    open_when: tuple[Condition, ...]
    basis: dict[str, str]


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    """Every retention rule."""

    rules: tuple[Rule, ...]
    identity_documents: IdentityDocumentRule | None


class _Field(Strict):
    table = fields.String(required=True)
    field = fields.String(required=True)


class _Period(_OneUnit):
    days = fields.Integer(validate=validate.Range(min=1, max=36500))
    months = fields.Integer(validate=validate.Range(min=1, max=1200))
    years = fields.Integer(validate=validate.Range(min=1, max=100))


class _Rule(Strict):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]*$"))
    category = fields.String(required=True)
    tables = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    trigger = fields.Nested(_Field, required=True)
    period = fields.Nested(_Period, required=True)
    action = fields.String(required=True, validate=validate.OneOf(("delete", "anonymise")))
    basis = fields.Nested(Text, required=True)


class _Open(Strict):
    table = fields.String(required=True)
    when = WHEN


class _Identity(Strict):
    after_last = fields.Nested(_Field, required=True)
    days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))
    unless_open = fields.Nested(_Open, required=True)
    basis = fields.Nested(Text, required=True)


class RetentionSchema(Strict):
    """The file, cross-checked: categories, tables and fields exist in the data map."""

    rules = fields.List(fields.Nested(_Rule), required=True)
    identity_documents = fields.Nested(_Identity, load_default=None)

    def __init__(self, datamap, **kwargs):
        super().__init__(**kwargs)
        self.datamap = datamap

    @validates_schema
    def _against_datamap(self, data, **_kwargs):
        tables = {
            t.name: (s, t)
            for s in self.datamap.sources.values()
            for t in s.tables.values()
            if s.kind == "sql"
        }
        errors: dict = {}
        ids = [r["id"] for r in data.get("rules", [])]
        for i, rule in enumerate(data.get("rules", [])):
            problems: dict = {}
            if ids.count(rule["id"]) > 1:
                problems["id"] = ["Used twice."]
            for table in rule["tables"]:
                if table not in tables or rule["category"] not in tables[table][1].categories():
                    problems["tables"] = [f"{table} holds no {rule['category']} field."]
                    continue
                source, _spec = tables[table]
                lineage = source.lineage(table)
                if rule["trigger"]["table"] not in lineage:
                    problems["trigger"] = [
                        f"{rule['trigger']['table']} is not {table} or an ancestor."
                    ]
            trigger = tables.get(rule["trigger"]["table"])
            if trigger and rule["trigger"]["field"] not in {f.name for f in trigger[1].fields}:
                problems.setdefault("trigger", []).append("Not a mapped field.")
            if problems:
                errors.setdefault("rules", {})[i] = problems
        if errors:
            raise ValidationError(errors)


def load_retention_policy(policies_dir: Path, datamap) -> RetentionPolicy:
    """Load and validate ``retention.yaml``."""
    data = load_yaml(Path(policies_dir) / "retention.yaml", RetentionSchema(datamap))
    rules = tuple(
        Rule(
            id=r["id"],
            category=r["category"],
            tables=tuple(r["tables"]),
            trigger_table=r["trigger"]["table"],
            trigger_field=r["trigger"]["field"],
            period=Period(**r["period"]),
            action=r["action"],
            basis=bilingual(r["basis"]),
        )
        for r in data["rules"]
    )
    ident = data.get("identity_documents")
    identity_rule = None
    if ident:
        identity_rule = IdentityDocumentRule(
            after_table=ident["after_last"]["table"],
            after_field=ident["after_last"]["field"],
            days=ident["days"],
            open_table=ident["unless_open"]["table"],
            open_when=conditions(ident["unless_open"].get("when")),
            basis=bilingual(ident["basis"]),
        )
    return RetentionPolicy(rules=rules, identity_documents=identity_rule)
