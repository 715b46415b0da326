"""Working days and deadlines on the Chinese calendar.

A year is *known* when an operator calendar file under ``policies/calendar/`` covers it (the
official State Council notice, entered by hand) or when ``chinesecalendar`` ships data for it.
Operator files win over the package. For a year that no source knows, ``chinesecalendar`` raises
and ``holidays`` is silently wrong (it has no make-up working days), so deadlines that reach into
such a year are computed *conservatively* and flagged provisional:

* statutory holiday dates (from ``holidays`` without observed/substitute days: the days the law
  itself names, which are never working days) do not count;
* Monday to Friday counts;
* a weekend day counts too when it lies within ``MAKEUP_WINDOW_DAYS`` of a statutory holiday,
  because make-up working days (调休) are always weekends near a holiday.

Counting every possibly-working day makes the provisional date never later than the true one;
``tests/test_calendar.py`` checks that claim against every start date of the known years.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays

MAKEUP_WINDOW_DAYS = 14
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclasses.dataclass(frozen=True)
class YearCalendar:
    """An official year: its holidays (days off on weekdays) and make-up working days."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str = ""

    def is_working_day(self, day: dt.date) -> bool:
        """Working day per the official arrangement."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


@dataclasses.dataclass(frozen=True)
class Deadline:
    """A computed due date, and whether it rests on a year no calendar source knows."""

    due_date: dt.date
    provisional: bool


class WorkingCalendar:
    """China's working-day calendar: operator files, then ``chinesecalendar``, then a safe guess."""

    def __init__(self, official_years: Iterable[YearCalendar] = ()):
        self._official = {y.year: y for y in official_years}
        # Pages count working days for many rows against the same today: remember the answers.
        self.working_days_between = functools.lru_cache(maxsize=8192)(self._working_days_between)

    @property
    def official_years(self) -> dict[int, YearCalendar]:
        """Years added by operators under ``policies/calendar/``."""
        return dict(self._official)

    def is_known(self, year: int) -> bool:
        """True when an authoritative source covers ``year``."""
        return year in self._official or _package_knows(year)

    def is_working_day(self, day: dt.date) -> bool:
        """Working day; for an unknown year, whether the day *may* be one (conservative)."""
        if day.year in self._official:
            return self._official[day.year].is_working_day(day)
        if _package_knows(day.year):
            return day in _package_working_days(day.year)
        return _maybe_working_day(day)

    def add_working_days(self, start: dt.date, days: int) -> Deadline:
        """The ``days``-th working day after ``start``; ``start`` itself never counts."""
        if days < 1:
            raise ValueError("days must be at least 1")
        provisional = False
        day = start
        counted = 0
        while counted < days:
            day += dt.timedelta(days=1)
            if not self.is_known(day.year):
                provisional = True
            if self.is_working_day(day):
                counted += 1
        return Deadline(day, provisional)

    def _working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end``; negative when end < start."""
        if end == start:
            return 0
        sign = 1 if end > start else -1
        lo, hi = (start, end) if sign > 0 else (end, start)
        count = 0
        day = lo
        while day < hi:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return sign * count


@functools.cache
def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@functools.cache
def _package_working_days(year: int) -> frozenset[dt.date]:
    # chinesecalendar re-validates its whole table on every call; ask it once per year.
    first = dt.date(year, 1, 1)
    days = (first + dt.timedelta(days=i) for i in range(366))
    return frozenset(d for d in days if d.year == year and chinese_calendar.is_workday(d))


@functools.cache
def _statutory_days(year: int) -> frozenset[dt.date]:
    # observed=False leaves out substitute days, which only a State Council notice can set.
    return frozenset(holidays.China(years=year, observed=False).keys())


def _maybe_working_day(day: dt.date) -> bool:
    if day in _statutory_days(day.year):
        return False
    if day.weekday() < 5:
        return True
    window = dt.timedelta(days=MAKEUP_WINDOW_DAYS)
    nearby = _statutory_days(day.year) | _statutory_days((day - window).year)
    nearby |= _statutory_days((day + window).year)
    return any(abs(h - day) <= window for h in nearby)


def receipt_day(received_at: dt.datetime, tz: ZoneInfo = SHANGHAI) -> dt.date:
    """The calendar day of receipt in the policy's time zone (Asia/Shanghai by default)."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return received_at.astimezone(tz).date()
