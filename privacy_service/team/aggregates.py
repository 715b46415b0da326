"""Pre-aggregated figures for the reports and the overview: requests per day, closures per day.

Reading the requests themselves costs seconds at a million rows; these two small tables hold
the same counts per local (Shanghai) day:

- ``report_received``: requests received per day and type;
- ``report_closed``: requests closed per day, type and final status, and how many of them by
  their due date;
- ``report_close_days``: requests closed per day by working days taken (received day to
  closed day, on the policy's calendar).

They are refreshed, not maintained at each state change (no write on the request path, no hot
counter row): ``refresh`` recomputes whole days, those touched by a request whose status changed
since the last refresh (``status_changed_at``, a little margin for transactions still open
then), or every day when the calendar's working days changed or nothing was built yet. The
scheduled job ``reports.refresh`` runs it every minute and a full rebuild nightly; the report
and overview pages run it themselves when the last refresh is older than ``FRESH_SECONDS``,
and show the time of the figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import Counter
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from privacy_service.calendar import receipt_day
from privacy_service.db import local_day, utcnow
from privacy_service.requests.models import DataRequest
from privacy_service.team.models import (
    ReportClosed,
    ReportCloseDays,
    ReportReceived,
    ReportState,
)

# A transaction still open at a refresh may commit a status change stamped before it: changes
# are looked for from this long before the last refresh (the nightly rebuild catches longer ones).
SHANGHAI = ZoneInfo("Asia/Shanghai")
MARGIN = dt.timedelta(minutes=5)
FRESH_SECONDS = 60
# The calendar's working days over this span fingerprint it (a changed holiday file rebuilds).
CALENDAR_SPAN = (dt.timedelta(days=3 * 366), dt.timedelta(days=400))


@dataclasses.dataclass
class Refreshed:
    """What a refresh did: whether it rebuilt everything, and how many days it recomputed."""

    full: bool
    received_days: int
    closed_days: int


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _fingerprint(calendar, today: dt.date) -> str:
    back, ahead = CALENDAR_SPAN
    day, end = today - back, today + ahead
    bits = bytearray()
    while day <= end:
        bits.append(1 if calendar.is_working_day(day) else 0)
        day += dt.timedelta(days=1)
    return hashlib.sha256(bytes(bits) + (today - back).isoformat().encode()).hexdigest()


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def _in_days(column, days: set[dt.date] | None):
    """``column`` within the local days (None: no condition)."""
    if days is None:
        return []
    ranges = []
    for day in sorted(days):
        start, end = _day_bounds(day)
        if ranges and ranges[-1][1] == start:
            ranges[-1][1] = end
        else:
            ranges.append([start, end])
    return [or_(*[(column >= a) & (column < b) for a, b in ranges])]


def _received_rows(s: Session, days: set[dt.date] | None) -> list[dict]:
    rday = local_day(s, DataRequest.received_at)
    rows = s.execute(
        select(rday, DataRequest.type, func.count())
        .where(*_in_days(DataRequest.received_at, days))
        .group_by(rday, DataRequest.type)
    ).all()
    return [{"day": _as_date(d), "type": t, "n": n} for d, t, n in rows]


def _closed_rows(s: Session, calendar, days: set[dt.date] | None) -> tuple[list, list]:
    """Rows of ``report_closed`` and of ``report_close_days`` for the closures of ``days``."""
    rday = local_day(s, DataRequest.received_at)
    cday = local_day(s, DataRequest.closed_at)
    groups = (rday, cday, DataRequest.due_date, DataRequest.type, DataRequest.status)
    closed = DataRequest.closed_at.is_not(None)
    by_status: dict = {}
    taken: Counter = Counter()
    for received, closed_on, due, kind, status, n in s.execute(
        select(*groups, func.count())
        .where(closed, *_in_days(DataRequest.closed_at, days))
        .group_by(*groups)
    ).all():
        r, c = _as_date(received), _as_date(closed_on)
        taken[(c, max(0, calendar.working_days_between(r, c)))] += n
        row = by_status.setdefault((c, kind, status), [0, 0])
        row[0] += n
        row[1] += n if c <= _as_date(due) else 0
    return (
        [
            {"day": c, "type": k, "status": st, "n": n, "on_time": ok}
            for (c, k, st), (n, ok) in by_status.items()
        ],
        [{"day": c, "working_days": w, "n": n} for (c, w), n in taken.items()],
    )


def _touched(s: Session, since: dt.datetime) -> tuple[set[dt.date], set[dt.date]]:
    """Local days of receipt and of closure of the requests changed since ``since``."""
    rday = local_day(s, DataRequest.received_at)
    cday = local_day(s, DataRequest.closed_at)
    received, closed = set(), set()
    for r, c in s.execute(
        select(rday, cday).where(DataRequest.status_changed_at >= since).distinct()
    ).all():
        received.add(_as_date(r))
        if c is not None:
            closed.add(_as_date(c))
    return received, closed


def _state(s: Session) -> ReportState:
    """The state row, locked for this transaction (refreshes run one at a time)."""
    s.execute(update(ReportState).where(ReportState.id == 1).values(id=1))
    state = s.get(ReportState, 1, populate_existing=True)
    if state is None:
        state = ReportState(id=1)
        s.add(state)
        s.flush()
    return state


def refresh(s: Session, calendar, *, full: bool = False) -> Refreshed:
    """Bring the tables up to date (in the caller's transaction; the caller commits)."""
    now = utcnow()
    state = _state(s)
    fingerprint = _fingerprint(calendar, receipt_day(now))
    full = full or state.watermark is None or state.calendar != fingerprint
    closed_tables = (ReportClosed, ReportCloseDays)
    if full:
        received_days = closed_days = None
        for table in (ReportReceived, *closed_tables):
            s.execute(delete(table))
    else:
        received_days, closed_days = _touched(s, state.watermark - MARGIN)
        if received_days:
            s.execute(delete(ReportReceived).where(ReportReceived.day.in_(received_days)))
        if closed_days:
            for table in closed_tables:
                s.execute(delete(table).where(table.day.in_(closed_days)))
    received = _received_rows(s, received_days) if received_days != set() else []
    closed, taken = _closed_rows(s, calendar, closed_days) if closed_days != set() else ([], [])
    for table, rows in (
        (ReportReceived, received),
        (ReportClosed, closed),
        (ReportCloseDays, taken),
    ):
        for start in range(0, len(rows), 5000):
            s.execute(insert(table), rows[start : start + 5000])
    state.watermark, state.refreshed_at, state.calendar = now, now, fingerprint
    return Refreshed(
        full=full,
        received_days=len({r["day"] for r in received}),
        closed_days=len({r["day"] for r in closed}),
    )


def refreshed_at(s: Session) -> dt.datetime | None:
    """When the figures were last refreshed (None: never)."""
    return s.scalar(select(ReportState.refreshed_at).where(ReportState.id == 1))


def ensure_fresh(s: Session, calendar, seconds: float = FRESH_SECONDS) -> dt.datetime:
    """Refresh (and commit) when the figures are older than ``seconds``; their time."""
    at = refreshed_at(s)
    if at is None or (utcnow() - at).total_seconds() > seconds:
        refresh(s, calendar)
        s.commit()
        at = refreshed_at(s)
    return at


def received(s: Session, since: dt.date, until: dt.date) -> list[tuple[dt.date, str, int]]:
    """(day, type, requests received) for the days from ``since`` to ``until``."""
    rows = s.execute(
        select(ReportReceived.day, ReportReceived.type, ReportReceived.n).where(
            ReportReceived.day >= since, ReportReceived.day <= until
        )
    ).all()
    return [(_as_date(d), t, n) for d, t, n in rows]


def closed(s: Session, since: dt.date, until: dt.date, *group) -> list[tuple]:
    """Closures from ``since`` to ``until`` grouped by the given ``ReportClosed`` columns.

    Each row: the columns, then how many closures, then how many of them by their due date.
    """
    return [
        (*row[:-2], int(row[-2] or 0), int(row[-1] or 0))
        for row in s.execute(
            select(*group, func.sum(ReportClosed.n), func.sum(ReportClosed.on_time))
            .where(ReportClosed.day >= since, ReportClosed.day <= until)
            .group_by(*group)
        ).all()
    ]


def working_days_taken(s: Session, since: dt.date, until: dt.date) -> Counter:
    """How many closures from ``since`` to ``until`` took each number of working days."""
    return Counter(
        {
            w: int(n)
            for w, n in s.execute(
                select(ReportCloseDays.working_days, func.sum(ReportCloseDays.n))
                .where(ReportCloseDays.day >= since, ReportCloseDays.day <= until)
                .group_by(ReportCloseDays.working_days)
            ).all()
        }
    )
