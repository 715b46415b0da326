"""``policies/request_policies.yaml``: deadlines per jurisdiction, which types need review."""

from __future__ import annotations

import calendar as _stdlib_calendar
import dataclasses
import datetime as dt
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, validate, validates_schema

from privacy_service.calendar import Deadline, WorkingCalendar, receipt_day
from privacy_service.policies._base import Period, Strict, Text, bilingual, load_yaml


class RequestType(StrEnum):
    """What a customer asks for; stored and shown as its value (``"account_closure"``)."""

    ACCESS = "access"
    CORRECTION = "correction"
    DELETION = "deletion"
    ACCOUNT_CLOSURE = "account_closure"


REQUEST_TYPES = tuple(RequestType)


class _Deadline(Period):
    working_days = fields.Integer(validate=validate.Range(min=1, max=365))
    days = fields.Integer(validate=validate.Range(min=1, max=3650))
    months = fields.Integer(validate=validate.Range(min=1, max=120))


def _valid_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except Exception as exc:
        raise ValidationError(f"unknown time zone {name!r}") from exc


class _Jurisdiction(Strict):
    title = fields.Nested(Text, required=True)
    deadline = fields.Nested(_Deadline, required=True)
    extension = fields.Nested(_Deadline, load_default=None, allow_none=True)
    timezone = fields.String(load_default="Asia/Shanghai", validate=_valid_timezone)
    # Whether the deadline stops while the team waits for the customer's answer (PIPL: it does
    # not; some laws allow it). Shown on the dashboard when the team asks for information.
    clock_pauses_for_information = fields.Boolean(load_default=False)


class _RequestPolicies(Strict):
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
        return add_period(day, self.deadline, calendar)


def add_period(day: dt.date, period: dict[str, int], calendar: WorkingCalendar) -> Deadline:
    """The day ``period`` after ``day`` (working days by ``calendar``; months end-clamped)."""
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
            code: Jurisdiction(code=code, **{**j, "title": bilingual(j["title"])})
            for code, j in data["jurisdictions"].items()
        },
        staff_review=frozenset(data["staff_review"]),
    )
