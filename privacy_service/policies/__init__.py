"""Policy as code: YAML under ``policies/``, validated with marshmallow at start-up.

An invalid file stops start-up with a message naming the file, the line and the field.
This module loads the request policies (deadlines per jurisdiction, which request types need
staff review) and operator calendar files (official years of the Chinese calendar).
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from privacy_service.calendar import Deadline, WorkingCalendar, YearCalendar, receipt_day

if TYPE_CHECKING:
    from privacy_service.policies.datamap import DataMap
    from privacy_service.policies.erasure import ErasurePolicy
    from privacy_service.policies.recipients import Recipient
    from privacy_service.policies.retention import RetentionPolicy

REQUEST_TYPES = ("access", "correction", "deletion", "account_closure")


class PolicyError(RuntimeError):
    """A policy file is missing or invalid; the message names file, line and field."""


# --- YAML with line numbers -------------------------------------------------------------------


def load_yaml(path: Path, schema: Schema) -> Any:
    """Parse ``path`` and validate it with ``schema``; errors name the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PolicyError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return schema.load(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for raw_path, message in _flatten(exc.messages):
            field_path = _document_path(node, raw_path)
            shown = ".".join(map(str, field_path)) or "(file)"
            problems.append(f"{path}:{_line_of(node, field_path)}: {shown}: {message}")
        raise PolicyError("invalid policy: " + "; ".join(problems)) from exc


def _flatten(messages: Any, prefix: tuple = ()) -> list[tuple[tuple, str]]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            sub = prefix if key == "_schema" else (*prefix, key)
            out.extend(_flatten(value, sub))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [(prefix, " ".join(messages))]
    if isinstance(messages, list):
        return [item for m in messages for item in _flatten(m, prefix)]
    return [(prefix, str(messages))]


def _document_path(node: yaml.Node | None, field_path: tuple) -> tuple:
    """Drop the ``value``/``key`` levels marshmallow adds for Dict fields."""
    out = []
    for part in field_path:
        if (
            part in ("value", "key")
            and isinstance(node, yaml.MappingNode)
            and not any(k.value == part for k, _ in node.value)
        ):
            continue
        out.append(part)
        node = _child(node, part)
    return tuple(out)


def _child(node: yaml.Node | None, part) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
        return node.value[int(part)]
    return None


def _line_of(node: yaml.Node | None, field_path: tuple) -> int:
    """1-based line of the deepest node along ``field_path`` that exists in the document."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in field_path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit():
            index = int(part)
            if index < len(node.value):
                child = node.value[index]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


# --- Request policies -------------------------------------------------------------------------


class _LocalText(Schema):
    class Meta:
        unknown = RAISE

    zh = fields.String(required=True, data_key="zh-CN", validate=validate.Length(min=1))
    en = fields.String(required=True, validate=validate.Length(min=1))


def _local(text: dict) -> dict[str, str]:
    return {"zh-CN": text["zh"], "en": text["en"]}


class _Period(Schema):
    class Meta:
        unknown = RAISE

    working_days = fields.Integer(validate=validate.Range(min=1, max=365))
    days = fields.Integer(validate=validate.Range(min=1, max=3650))
    months = fields.Integer(validate=validate.Range(min=1, max=120))

    @validates_schema
    def _exactly_one(self, data, **_kwargs):
        if len(data) != 1:
            raise ValidationError("give exactly one of working_days, days, months")


def _valid_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except Exception as exc:
        raise ValidationError(f"unknown time zone {name!r}") from exc


class _Jurisdiction(Schema):
    class Meta:
        unknown = RAISE

    title = fields.Nested(_LocalText, required=True)
    deadline = fields.Nested(_Period, required=True)
    extension = fields.Nested(_Period, load_default=None, allow_none=True)
    timezone = fields.String(load_default="Asia/Shanghai", validate=_valid_timezone)
    # Whether the deadline stops while the team waits for the customer's answer (PIPL: it does
    # not; some laws allow it). Shown on the dashboard when the team asks for information.
    clock_pauses_for_information = fields.Boolean(load_default=False)


class _RequestPolicies(Schema):
    class Meta:
        unknown = RAISE

    default_jurisdiction = fields.String(required=True)
    jurisdictions = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,31}$")),
        values=fields.Nested(_Jurisdiction),
        required=True,
        validate=validate.Length(min=1),
    )
    staff_review = fields.List(
        fields.String(validate=validate.OneOf(REQUEST_TYPES)), load_default=list
    )

    @validates_schema
    def _default_exists(self, data, **_kwargs):
        if data.get("default_jurisdiction") not in data.get("jurisdictions", {}):
            raise ValidationError(
                "must name one of the jurisdictions", field_name="default_jurisdiction"
            )


@dataclasses.dataclass(frozen=True)
class Jurisdiction:
    """A deadline policy: how long the service has to answer, and in which time zone."""

    code: str
    title: dict[str, str]
    deadline: dict[str, int]
    extension: dict[str, int] | None
    timezone: str
    clock_pauses_for_information: bool = False

    def due(self, received_at: dt.datetime, calendar: WorkingCalendar) -> Deadline:
        """The due date of a request received at ``received_at``."""
        day = receipt_day(received_at, ZoneInfo(self.timezone))
        return _add_period(day, self.deadline, calendar)


def _add_period(day: dt.date, period: dict[str, int], calendar: WorkingCalendar) -> Deadline:
    if "working_days" in period:
        return calendar.add_working_days(day, period["working_days"])
    if "days" in period:
        return Deadline(day + dt.timedelta(days=period["days"]), False)
    month_index = day.month - 1 + period["months"]
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = _stdlib_calendar.monthrange(year, month)[1]
    return Deadline(dt.date(year, month, min(day.day, last)), False)


@dataclasses.dataclass(frozen=True)
class RequestPolicies:
    """Jurisdictions and workflow rules from ``policies/request_policies.yaml``."""

    default_jurisdiction: str
    jurisdictions: dict[str, Jurisdiction]
    staff_review: frozenset[str]

    def jurisdiction(self, code: str | None = None) -> Jurisdiction:
        """The named jurisdiction, or the default one."""
        return self.jurisdictions[code or self.default_jurisdiction]


def load_request_policies(policies_dir: Path) -> RequestPolicies:
    """Load and validate ``request_policies.yaml``."""
    data = load_yaml(policies_dir / "request_policies.yaml", _RequestPolicies())
    return RequestPolicies(
        default_jurisdiction=data["default_jurisdiction"],
        jurisdictions={
            code: Jurisdiction(code=code, **{**j, "title": _local(j["title"])})
            for code, j in data["jurisdictions"].items()
        },
        staff_review=frozenset(data["staff_review"]),
    )


# --- Operator calendar files ------------------------------------------------------------------


class _CalendarYear(Schema):
    class Meta:
        unknown = RAISE

    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    source = fields.String(required=True, validate=validate.Length(min=1))
    holidays = fields.List(fields.Date(), required=True)
    workdays = fields.List(fields.Date(), load_default=list)

    @validates_schema
    def _consistent(self, data, **_kwargs):
        year = data.get("year")
        for name in ("holidays", "workdays"):
            for i, day in enumerate(data.get(name, [])):
                if day.year != year:
                    raise ValidationError({name: {i: [f"{day} is not in {year}"]}})
        for i, day in enumerate(data.get("workdays", [])):
            if day.weekday() < 5:
                raise ValidationError(
                    {"workdays": {i: [f"{day} is a weekday; list make-up weekend days only"]}}
                )
        both = set(data.get("holidays", [])) & set(data.get("workdays", []))
        if both:
            raise ValidationError(f"listed as both holiday and workday: {sorted(map(str, both))}")

    @post_load
    def _build(self, data, **_kwargs):
        return YearCalendar(
            year=data["year"],
            holidays=frozenset(data["holidays"]),
            workdays=frozenset(data["workdays"]),
            source=data["source"],
        )


def load_calendar(policies_dir: Path) -> WorkingCalendar:
    """A working calendar with every official year under ``policies/calendar/``."""
    years: dict[int, YearCalendar] = {}
    folder = policies_dir / "calendar"
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        year = load_yaml(path, _CalendarYear())
        if year.year in years:
            raise PolicyError(f"{path}:1: year: {year.year} is defined twice")
        years[year.year] = year
    return WorkingCalendar(years.values())


# --- Data categories ---------------------------------------------------------------------------


class _Category(Schema):
    class Meta:
        unknown = RAISE

    name = fields.Nested(_LocalText, required=True)
    description = fields.Nested(_LocalText, required=True)
    sensitive = fields.Boolean(required=True)


class _Categories(Schema):
    class Meta:
        unknown = RAISE

    categories = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$")),
        values=fields.Nested(_Category),
        required=True,
        validate=validate.Length(min=1),
    )


@dataclasses.dataclass(frozen=True)
class Category:
    """A data category with its zh-CN and English name and description."""

    code: str
    name: dict[str, str]
    description: dict[str, str]
    sensitive: bool


def load_categories(policies_dir: Path) -> dict[str, Category]:
    """Load and validate ``categories.yaml``, keeping the file's order."""
    data = load_yaml(policies_dir / "categories.yaml", _Categories())
    return {
        code: Category(
            code=code,
            name=_local(c["name"]),
            description=_local(c["description"]),
            sensitive=c["sensitive"],
        )
        for code, c in data["categories"].items()
    }


class _Labels(Schema):
    class Meta:
        unknown = RAISE

    labels = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$")),
        values=fields.Nested(_LocalText),
        required=True,
    )


def load_labels(policies_dir: Path) -> dict[str, dict[str, str]]:
    """Field labels (zh-CN, English) from ``field_labels.yaml``."""
    data = load_yaml(policies_dir / "field_labels.yaml", _Labels())
    return {name: _local(text) for name, text in data["labels"].items()}


@dataclasses.dataclass(frozen=True)
class Policies:
    """Everything loaded from ``policies/``."""

    requests: RequestPolicies
    calendar: WorkingCalendar
    categories: dict[str, Category]
    datamap: DataMap
    labels: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    erasure: ErasurePolicy | None = None
    retention: RetentionPolicy | None = None
    recipients: tuple[Recipient, ...] = ()
    # Policy files the operator left out, read from the shipped defaults instead.
    fallbacks: tuple[str, ...] = ()

    def label(self, field: str) -> dict[str, str]:
        """A field's display name in both languages (its name when none is configured)."""
        return self.labels.get(field, {"zh-CN": field, "en": field})


SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"
POLICY_DEFAULTS = Path(__file__).resolve().parents[1] / "policy_defaults"
# Files an operator may leave out: where the fallback comes from. The shipped erasure and
# retention policies name the demo's tables, so an operator's shop gets neutral ones instead.
OPTIONAL_FILES = {
    "categories.yaml": SHIPPED_POLICIES,
    "request_policies.yaml": SHIPPED_POLICIES,
    "field_labels.yaml": SHIPPED_POLICIES,
    "calendar": SHIPPED_POLICIES,
    "erasure.yaml": POLICY_DEFAULTS,
    "retention.yaml": POLICY_DEFAULTS,
}


def policy_folders(policies_dir: str | Path) -> tuple[dict[str, Path], list[str]]:
    """Where each policy file is read from, and which files fell back to a default.

    ``datamap.yaml`` is always the operator's; any other file missing from their folder comes
    from the shipped defaults (``policies/``, or neutral erasure and retention policies).
    """
    folder = Path(policies_dir)
    where, fallbacks = {}, []
    for name, default in OPTIONAL_FILES.items():
        if (folder / name).exists():
            where[name] = folder
        else:
            where[name] = default
            fallbacks.append(name)
    return where, fallbacks


def load_policies(policies_dir: str | Path) -> Policies:
    """Load and validate every policy file; raises ``PolicyError`` on the first bad file."""
    from privacy_service.config import Settings
    from privacy_service.policies.datamap import load_datamap
    from privacy_service.policies.erasure import load_erasure_policy
    from privacy_service.policies.recipients import load_recipients
    from privacy_service.policies.retention import load_retention_policy

    folder = Path(policies_dir)
    if not (folder / "datamap.yaml").is_file():
        raise PolicyError(f"{folder / 'datamap.yaml'}: missing; every shop needs its data map")
    where, fallbacks = policy_folders(folder)
    categories = load_categories(where["categories.yaml"])
    settings_fields = [f.name for f in dataclasses.fields(Settings)]
    datamap = load_datamap(folder, categories, settings_fields)
    return Policies(
        requests=load_request_policies(where["request_policies.yaml"]),
        calendar=load_calendar(where["calendar"]),
        categories=categories,
        datamap=datamap,
        labels=load_labels(where["field_labels.yaml"]),
        erasure=load_erasure_policy(where["erasure.yaml"], datamap),
        retention=load_retention_policy(where["retention.yaml"], datamap),
        # The operator's own recipients only: the shipped list names the demo shop's partners.
        recipients=load_recipients(folder, categories),
        fallbacks=tuple(fallbacks),
    )
