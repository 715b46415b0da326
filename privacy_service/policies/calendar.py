"""``policies/calendar/*.yaml``: the official years of the Chinese calendar an operator adds."""

from __future__ import annotations

from pathlib import Path

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from privacy_service.calendar import WorkingCalendar, YearCalendar
from privacy_service.policies._base import PolicyError, Strict, load_yaml


class _CalendarYear(Strict):
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
