"""``policies/erasure.yaml``: what deletion and closure do per category, what blocks a closure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from marshmallow import ValidationError, fields, validate, validates_schema

from privacy_service.policies._base import Strict, Text, bilingual, load_yaml

ACTIONS = ("delete", "anonymise", "keep")
OPS = ("in", "gt", "eq")


@dataclasses.dataclass(frozen=True)
class Condition:
    """``column op value`` on a row (in / gt / eq)."""

    column: str
    op: str
    value: object


@dataclasses.dataclass(frozen=True)
class KeepRule:
    """Rows of ``tables`` kept under a legal obligation.

    Kept for a period from an anchor, or while a condition holds.
    """

    basis: dict[str, str]
    tables: tuple[str, ...]
    anchor_table: str | None = None
    anchor_field: str | None = None
    years: int | None = None
    when: tuple[Condition, ...] = ()
    note: dict[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class CategoryRule:
    """The action for a category, and what is kept despite it."""

    code: str
    action: str
    keep: tuple[KeepRule, ...] = ()


@dataclasses.dataclass(frozen=True)
class Blocker:
    """A reason a closure cannot go ahead yet."""

    code: str
    table: str
    when: tuple[Condition, ...]
    reason: dict[str, str]
    remedy: dict[str, str]


@dataclasses.dataclass(frozen=True)
class ErasurePolicy:
    """The whole erasure policy."""

    cooling_off_days: int
    categories: dict[str, CategoryRule]
    blockers: tuple[Blocker, ...]


class _Anchor(Strict):
    table = fields.String(required=True)
    field = fields.String(required=True)


# ``column: {op: value}`` conditions on a row (erasure keep rules, blockers, retention).
WHEN = fields.Dict(
    keys=fields.String(),
    values=fields.Dict(
        keys=fields.String(validate=validate.OneOf(OPS)),
        values=fields.Raw(),
        validate=validate.Length(equal=1),
    ),
)


class _Keep(Strict):
    basis = fields.Nested(Text, required=True)
    tables = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    anchor = fields.Nested(_Anchor)
    years = fields.Integer(validate=validate.Range(min=1, max=30))
    when = WHEN
    # What the kept rows hold (and do not), told to the customer in the receipt.
    note = fields.Nested(Text)

    @validates_schema
    def _period_or_condition(self, data, **_kwargs):
        period = "anchor" in data and "years" in data
        if period == ("when" in data) or ("anchor" in data) != ("years" in data):
            raise ValidationError("Give either anchor and years, or when.")


class _Category(Strict):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    keep = fields.List(fields.Nested(_Keep), load_default=list)


class _Blocker(Strict):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+$"))
    table = fields.String(required=True)
    when = WHEN
    reason = fields.Nested(Text, required=True)
    remedy = fields.Nested(Text, required=True)


class ErasurePolicySchema(Strict):
    """The file, cross-checked against the data map."""

    cooling_off_days = fields.Integer(required=True, validate=validate.Range(min=0, max=60))
    categories = fields.Dict(keys=fields.String(), values=fields.Nested(_Category), required=True)
    closure_blockers = fields.List(fields.Nested(_Blocker), load_default=list)

    def __init__(self, datamap, **kwargs):
        super().__init__(**kwargs)
        self.datamap = datamap

    @validates_schema
    def _against_datamap(self, data, **_kwargs):
        tables = {t.name: (s, t) for s in self.datamap.sources.values() for t in s.tables.values()}
        categories = set(self.datamap.categories())
        errors: dict = {}
        for code, rule in data.get("categories", {}).items():
            if code not in categories:
                errors.setdefault("categories", {})[code] = ["Not a category of the data map."]
                continue
            for i, keep in enumerate(rule["keep"]):
                problems = _check_keep(keep, code, tables)
                if problems:
                    errors.setdefault("categories", {}).setdefault(code, {}).setdefault("keep", {})[
                        i
                    ] = problems
        for i, blocker in enumerate(data.get("closure_blockers", [])):
            found = tables.get(blocker["table"])
            if found is None or found[0].kind != "sql":
                errors.setdefault("closure_blockers", {})[i] = {
                    "table": ["Not a table of a SQL source."]
                }
                continue
            names = {f.name for f in found[1].fields}
            for column in blocker.get("when") or {}:
                if column not in names:
                    errors.setdefault("closure_blockers", {})[i] = {
                        "when": {column: ["Not a mapped field of that table."]}
                    }
        if errors:
            raise ValidationError(errors)


def _check_keep(keep: dict, category: str, tables: dict) -> dict:
    problems: dict = {}
    for table in keep["tables"]:
        found = tables.get(table)
        if found is None or category not in found[1].categories():
            problems["tables"] = [f"{table} holds no field of {category}."]
    anchor = keep.get("anchor")
    if anchor:
        for table in keep["tables"]:
            if table not in tables:
                continue
            source, _spec = tables[table]
            lineage = source.lineage(table)
            if anchor["table"] not in lineage:
                problems["anchor"] = [f"{anchor['table']} is not {table} or one of its ancestors."]
        if anchor["table"] in tables:
            names = {f.name for f in tables[anchor["table"]][1].fields}
            if anchor["field"] not in names:
                problems.setdefault("anchor", []).append(
                    f"{anchor['field']} is not a mapped field."
                )
    return problems


def conditions(when: dict | None) -> tuple[Condition, ...]:
    """Loaded ``WHEN`` conditions as ``Condition`` objects."""
    return tuple(Condition(col, *next(iter(spec.items()))) for col, spec in (when or {}).items())


def load_erasure_policy(policies_dir: Path, datamap) -> ErasurePolicy:
    """Load and validate ``erasure.yaml``; categories it does not name are deleted."""
    data = load_yaml(Path(policies_dir) / "erasure.yaml", ErasurePolicySchema(datamap))
    rules = {
        code: CategoryRule(
            code=code,
            action=rule["action"],
            keep=tuple(
                KeepRule(
                    basis=bilingual(k["basis"]),
                    tables=tuple(k["tables"]),
                    anchor_table=(k.get("anchor") or {}).get("table"),
                    anchor_field=(k.get("anchor") or {}).get("field"),
                    years=k.get("years"),
                    when=conditions(k.get("when")),
                    note=bilingual(k["note"]) if k.get("note") else None,
                )
                for k in rule["keep"]
            ),
        )
        for code, rule in data["categories"].items()
    }
    for code in datamap.categories():
        rules.setdefault(code, CategoryRule(code=code, action="delete"))
    return ErasurePolicy(
        cooling_off_days=data["cooling_off_days"],
        categories=rules,
        blockers=tuple(
            Blocker(
                code=b["code"],
                table=b["table"],
                when=conditions(b.get("when")),
                reason=bilingual(b["reason"]),
                remedy=bilingual(b["remedy"]),
            )
            for b in data["closure_blockers"]
        ),
    )
