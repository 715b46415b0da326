"""Reports for the privacy officer, over a chosen period, as charts and CSV.

On-time rate, working days to close (median, p90), backlog by age, requests per type per ISO
week and month.

Receipts and closures are read from the pre-aggregated days of ``aggregates`` (refreshed when
older than a minute, and by the scheduled job ``reports.refresh``; the page shows their time),
a few thousand rows whatever the volume; the backlog is counted live over the open requests.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections import Counter

from flask import Response, request

from privacy_service import audit
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.team import aggregates
from privacy_service.team.models import ReportClosed
from privacy_service.web.context import runtime
from privacy_service.web.dashboard import charts, labels, page_queries
from privacy_service.web.dashboard.common import SHANGHAI, actor, bp, query_string, render, today

AGE_BUCKETS = (("0-5", 0, 5), ("6-10", 6, 10), ("11-15", 11, 15), (">15", 16, 10**6))
MAX_DAYS = 732


@dataclasses.dataclass
class Report:
    """The figures of one period."""

    since: dt.date
    until: dt.date
    closed: int
    on_time: int
    median_days: float | None
    p90_days: float | None
    closed_by_type: dict
    backlog: dict
    weeks: list
    months: list

    @property
    def on_time_rate(self) -> float | None:
        """Share of requests closed by their due date, in percent."""
        return round(100 * self.on_time / self.closed, 1) if self.closed else None


def _percentile(counts: Counter, q: float) -> float | None:
    """The q-quantile (nearest rank) of values weighted by their counts."""
    total = sum(counts.values())
    if not total:
        return None
    rank, seen = max(1, -(-q * total // 1)), 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return float(max(counts))


def build(s, calendar, since: dt.date, until: dt.date, now_day: dt.date) -> Report:
    """The report for requests received / closed between ``since`` and ``until``.

    Closures and receipts come from the pre-aggregated days (``aggregates``: the caller refreshes
    them first); the backlog is live, from the open requests (an index of them by receipt).
    """
    days = aggregates.working_days_taken(s, since, until)
    closed, on_time, by_type = 0, 0, Counter()
    for kind, n, ok in aggregates.closed(s, since, until, ReportClosed.type):
        closed += n
        on_time += ok
        by_type[kind] += n
    backlog = Counter()
    for received, n in page_queries.open_per_receipt_day(s):
        age = calendar.working_days_between(dt.date.fromisoformat(str(received)[:10]), now_day)
        bucket = next(name for name, lo, hi in AGE_BUCKETS if lo <= age <= hi)
        backlog[bucket] += n
    weeks, months = {}, {}
    for day, kind, n in aggregates.received(s, since, until):
        year, week, _ = day.isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", Counter())[kind] += n
        months.setdefault(day.strftime("%Y-%m"), Counter())[kind] += n
    return Report(
        since=since,
        until=until,
        closed=closed,
        on_time=on_time,
        median_days=_percentile(days, 0.5),
        p90_days=_percentile(days, 0.9),
        closed_by_type=dict(by_type),
        backlog={name: backlog.get(name, 0) for name, _, _ in AGE_BUCKETS},
        weeks=sorted(weeks.items()),
        months=sorted(months.items()),
    )


def current(since: dt.date, until: dt.date) -> tuple[Report, dt.datetime]:
    """The report of a period on figures refreshed within the last minute, and their time."""
    rt = runtime()
    s = rt.db.session
    as_of = aggregates.ensure_fresh(s, rt.policies.calendar)
    return build(s, rt.policies.calendar, since, until, today()), as_of


def period(args) -> tuple[dt.date, dt.date, dict]:
    """The chosen period (default: from the first day of the month two months ago to today)."""
    now = today()
    errors = {}
    default_since = (now.replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    try:
        since = dt.date.fromisoformat(args.get("from", "")) if args.get("from") else default_since
        until = dt.date.fromisoformat(args.get("to", "")) if args.get("to") else now
    except ValueError:
        since, until = default_since, now
        errors["period"] = "请填写有效日期。 Give valid dates."
    if since > until:
        since, until = until, since
    if (until - since).days > MAX_DAYS:
        since = until - dt.timedelta(days=MAX_DAYS)
        errors["period"] = "期间最长两年。 A period covers two years at most."
    return since, until, errors


@bp.get("/reports")
def reports():
    """The report page with its charts."""
    since, until, errors = period(request.args)
    report, as_of = current(since, until)
    type_labels = {t: labels.request_type(t) for t in REQUEST_TYPES}
    return render(
        "dashboard/reports.html",
        report=report,
        as_of=as_of,
        fresh_seconds=aggregates.FRESH_SECONDS,
        errors=errors,
        types=REQUEST_TYPES,
        week_chart=charts.stacked_bars(
            report.weeks[-26:], REQUEST_TYPES, type_labels, "每周请求 Requests per ISO week"
        ),
        month_chart=charts.stacked_bars(
            report.months, REQUEST_TYPES, type_labels, "每月请求 Requests per month"
        ),
        backlog_chart=charts.stacked_bars(
            [(k, {"open": v}) for k, v in report.backlog.items()],
            ("open",),
            {"open": "未结束 Open"},
            "按工作日计的积压 Backlog by age in working days",
        ),
        legend=charts.legend(REQUEST_TYPES, type_labels),
        qs=query_string({"from": since.isoformat(), "to": until.isoformat()}),
    )


@bp.get("/reports.csv")
def reports_csv():
    """The same figures as CSV, for the privacy officer's records (PIPL Art. 54 audits)."""
    rt = runtime()
    since, until, _ = period(request.args)
    report, as_of = current(since, until)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "period_or_bucket", "type", "value"])
    w.writerow(["period", f"{since}..{until}", "", ""])
    w.writerow(["figures_as_of", as_of.astimezone(SHANGHAI).isoformat(timespec="seconds"), "", ""])
    w.writerow(["closed", "", "all", report.closed])
    w.writerow(["closed_on_time", "", "all", report.on_time])
    w.writerow(["on_time_rate_percent", "", "all", report.on_time_rate or ""])
    w.writerow(["median_working_days_to_close", "", "all", report.median_days or ""])
    w.writerow(["p90_working_days_to_close", "", "all", report.p90_days or ""])
    for kind, n in sorted(report.closed_by_type.items()):
        w.writerow(["closed", "", kind, n])
    for bucket, n in report.backlog.items():
        w.writerow(["backlog_age_working_days", bucket, "all", n])
    for section, series in (
        ("received_per_week", report.weeks),
        ("received_per_month", report.months),
    ):
        for key, counts in series:
            for kind in REQUEST_TYPES:
                w.writerow([section, key, kind, counts.get(kind, 0)])
    s = rt.db.session
    audit.record(
        s,
        "report.exported",
        actor=actor(),
        details={"from": since.isoformat(), "to": until.isoformat()},
    )
    s.commit()
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="privacy-report-{since}-{until}.csv"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
