"""The privacy team's pages under ``/staff/``: overview, retention; the blueprint as a whole.

Roles: ``agent`` handles requests; ``admin`` also places legal holds and administers; ``auditor``
reads everything and changes nothing. Every page needs a signed-in member (``auth``); every form
carries the CSRF token; every decision goes through the same services as the CLI and is audited.
The other pages live in their own modules, imported at the end so their routes register.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from flask import flash, redirect, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from privacy_service import audit
from privacy_service.jobs import JOBS, run_job
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest
from privacy_service.team import aggregates
from privacy_service.team.models import ReportClosed
from privacy_service.web.context import runtime
from privacy_service.web.dashboard import charts, labels, page_queries, queries
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import actor, bp, render, today
from privacy_service.web.dashboard.jobinfo import next_run
from retention.engine import preview

__all__ = ["bp"]


@bp.get("/")
def overview():
    """Counts by status, due this week, overdue, on-time rate, requests per ISO week by type.

    Open requests are counted live and capped as the queue's counts are (indexes of open
    requests); closed ones and the history come from the pre-aggregated days (``aggregates``),
    refreshed when older than a minute.
    """
    rt = runtime()
    s = rt.db.session
    day = today()
    as_of = aggregates.ensure_fresh(s, rt.policies.calendar)
    open_ = DataRequest.status.not_in(lifecycle.TERMINAL)
    # Open requests are work: counted like the queue's views the cards link to, up to the cap
    # ("1,000+"), in one statement. Closed ones are history: exact, from the per-day figures.
    wanted = {
        st: [DataRequest.status == st] for st in lifecycle.STATUSES if st not in lifecycle.TERMINAL
    }
    wanted["week"] = [
        open_,
        DataRequest.due_date >= day,
        DataRequest.due_date <= day + dt.timedelta(7),
    ]
    wanted["overdue"] = [open_, DataRequest.due_date < day]
    counted = {k: queries.count_label(n) for k, n in queries.counts(s, wanted).items()}
    by_status = {st: counted[st] for st in lifecycle.STATUSES if st not in lifecycle.TERMINAL}
    first = dt.date(1970, 1, 1)
    for status, n, _ in aggregates.closed(s, first, day, ReportClosed.status):
        by_status[status] = f"{n:,}"
    weeks, months = _history(s, day)
    ordered = sorted(weeks.items())[-8:]
    type_labels = {t: labels.request_type(t) for t in REQUEST_TYPES}
    return render(
        "dashboard/overview.html",
        by_status=by_status,
        due_week=counted["week"],
        overdue=counted["overdue"],
        weeks=ordered,
        as_of=as_of,
        chart=charts.stacked_bars(
            ordered, REQUEST_TYPES, type_labels, "每周请求数 Requests per ISO week"
        ),
        legend=charts.legend(REQUEST_TYPES, type_labels),
        types=REQUEST_TYPES,
        on_time=sorted(months.items()),
        statuses=lifecycle.STATUSES,
    )


def _history(s, day: dt.date) -> tuple[dict, dict]:
    """Requests per ISO week and type (8 weeks) and on-time closures per month (6 months).

    Weeks are formed in Python with ``isocalendar`` (ISO 8601 weeks: SQLite has no ISO week
    format, and one rule for both databases keeps the labels the same).
    """
    weeks: dict = {}
    for received, kind, n in aggregates.received(s, day - dt.timedelta(weeks=8), day):
        year, week, _ = received.isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", Counter())[kind] += n
    months: dict = {}
    since = day - dt.timedelta(days=183)
    for closed_on, n, ok in aggregates.closed(s, since, day, ReportClosed.day):
        month = str(closed_on)[:7]
        done, total = months.get(month, (0, 0))
        months[month] = (done + ok, total + n)
    return weeks, months


def _rule_counts(next_run: dict) -> dict[str, str]:
    """What the next run would remove, per rule, as ``table: n`` text."""
    return {
        rule: ", ".join(f"{table} {n}" for table, n in tables.items()) or "0"
        for rule, tables in next_run.items()
        if isinstance(tables, dict)
    }


def _next_run_time() -> str:

    spec = next(s for s in JOBS if s.id == "retention.nightly")
    return next_run(spec, None)


def _retention_page(rt, next_run: dict | None = None, error: str | None = None):
    return render(
        "dashboard/retention.html",
        rules=rt.policies.retention.rules,
        identity_rule=rt.policies.retention.identity_documents,
        next_run=next_run,
        next_time=_next_run_time(),
        runs=page_queries.recent_purge_runs(rt.db.session),
        error=error,
    )


@bp.get("/retention")
def retention():
    """The rules, what the next run would remove (when asked: it reads every source), past runs."""
    return _retention_page(runtime())


@bp.post("/retention/dry-run")
def retention_dry_run():
    """Count what the next run would remove (changes nothing)."""
    rt = runtime()
    s = rt.db.session
    error = None
    try:
        next_run = _rule_counts(preview(rt.collector(), rt.policies, s))
    except SQLAlchemyError:  # a source system is down or not set up: say so, show the rest
        s.rollback()
        next_run = {}
        error = "数据源不可用，无法计算。 A source system is unavailable; nothing was counted."
    return _retention_page(rt, next_run, error)


@bp.route("/retention/run", methods=["GET", "POST"])
@roles("admin")
def retention_run():
    """Run the retention pass now, after a confirmation page (it deletes rows for good)."""
    if request.method == "GET":
        return render(
            "dashboard/confirm.html",
            title="立即运行保存期限清理 Run the retention pass now",
            changes=[
                "按保存期限规则永久删除到期的数据（不可撤销）。 "
                "Removes every row past its retention period, for good (cannot be undone)."
            ],
            action=url_for("dashboard.retention_run"),
            cancel=url_for("dashboard.retention"),
            danger=True,
        )
    rt = runtime()
    spec = next(s for s in JOBS if s.id == "retention.nightly")
    audit.record(rt.db.session, "job.run_by_staff", actor=actor(), details={"job": spec.id})
    rt.db.session.commit()
    try:
        removed = run_job(rt, spec)
    except Exception:
        flash("清理失败，详见任务页面。 The pass failed; see the jobs page.")
        return redirect(url_for("dashboard.retention"), code=303)
    flash(
        "另一进程正在运行。 Another process is running it."
        if removed is None
        else f"已删除 {removed} 行。 Removed {removed} rows."
    )
    return redirect(url_for("dashboard.retention"), code=303)


# The other pages register on the same blueprint.
from privacy_service.web.dashboard import (  # noqa: E402, F401
    admin,
    auditlog,
    behalf_pages,
    intake,
    queue,
    reports,
    request_page,
    work,
)
