"""Calendar periods for retention and legal keeps: counting back from now, and forward."""

from __future__ import annotations

import calendar as _calendar
import datetime as dt


def _shift_months(moment: dt.datetime, months: int) -> dt.datetime:
    # The 31st (or Feb 29) shifted to a shorter month lands on that month's last day.
    year, month = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + year, month + 1
    day = min(moment.day, _calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def cutoff(now: dt.datetime, period) -> dt.datetime:
    """``now`` minus a calendar period (days, months, years)."""
    return _shift_months(now, -(period.years * 12 + period.months)) - dt.timedelta(days=period.days)


def cutoff_inverse(moment: dt.datetime, period) -> dt.datetime:
    """When a row whose trigger is ``moment`` expires: ``moment`` plus the period."""
    return _shift_months(moment, period.years * 12 + period.months) + dt.timedelta(days=period.days)


def naive_if_sqlite(engine, moment: dt.datetime) -> dt.datetime:
    """SQLite keeps naive UTC timestamps; PostgreSQL compares aware ones."""
    return (
        moment.astimezone(dt.UTC).replace(tzinfo=None)
        if engine.dialect.name == "sqlite"
        else moment
    )
