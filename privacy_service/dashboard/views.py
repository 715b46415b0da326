"""The privacy team's pages under ``/staff/``: login, overview, queue, a request, audit, retention.

Roles: ``agent`` handles requests; ``admin`` also places legal holds; ``auditor`` reads
everything and changes nothing. Every page needs a signed-in member; every form carries the
CSRF token; every decision goes through the same services as the CLI and is audited.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import Counter
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from privacy_service import audit, holds
from privacy_service.audit import AuditEntry
from privacy_service.calendar import receipt_day
from privacy_service.crypto.normalize import InvalidValue, mask
from privacy_service.dashboard import sessions
from privacy_service.dashboard.staff import authenticate
from privacy_service.db import is_uuid, utcnow
from privacy_service.errors import Problem
from privacy_service.requests import lifecycle, staff
from privacy_service.requests.models import DataRequest, Verification
from privacy_service.runtime import runtime
from privacy_service.subjects.identity import IdentityDocument
from privacy_service.subjects.models import Subject
from privacy_service.tasks import failures as task_failures
from privacy_service.webforms import check_csrf, csrf_token, html, int_arg, same_site_path

bp = Blueprint("dashboard", __name__, url_prefix="/staff", template_folder="templates")
SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE = 50
MAX_PAGE = 1_000_000  # 50 million rows in: far past any queue, far below SQL's integer range
MAX_DAYS = 36_600  # a due-date window of a century is "everything"
LOGIN_FAILED = (
    "邮箱、密码或验证码不正确，或账户已暂时锁定。 "
    "Wrong email, password or code, or the account is locked for a while."
)
REFUSAL_TEMPLATES = {
    "identity": (
        "无法核实您的身份，请使用账户绑定的手机号或邮箱重新提交。",
        "We could not confirm it is you; please submit again with your account's phone or email.",
    ),
    "unfounded": (
        "经核实，您要求更正的信息是准确的，因此未作更改。",
        "We checked and the information is accurate, so nothing was changed.",
    ),
    "legal": (
        "法律要求我们保存这些信息，因此无法删除。",
        "The law requires us to keep this information, so it cannot be deleted.",
    ),
}
bp.before_request(check_csrf)


@bp.app_template_filter("replace_page")
def _replace_page(args, page: int) -> str:
    from urllib.parse import urlencode

    return urlencode({**args.to_dict(), "page": page})


@bp.before_request
def _signed_in():
    if request.endpoint in ("dashboard.login",):
        return None
    # The cookie holds a session id; the database says whether that session is still alive.
    g.staff = sessions.resume(runtime().db.session, session.get("staff_sid"))
    if g.staff is None:
        session.pop("staff_sid", None)
        return redirect(url_for("dashboard.login", next=request.path))
    return None


def roles(*allowed: str):
    """Only these roles may use the view (403 otherwise)."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if g.staff.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return inner

    return wrap


def _render(template: str, status: int = 200, **context):
    return html(
        render_template(
            template, csrf=csrf_token(), me=getattr(g, "staff", None), tz=SHANGHAI, **context
        ),
        status,
    )


@bp.errorhandler(403)
def _forbidden(_exc):
    return _render(
        "dashboard/message.html", 403, message="您的角色不能执行此操作。 Your role cannot do this."
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in (email, password, and the authenticator code when enrolled)."""
    error = None
    if request.method == "POST":
        rt = runtime()
        user = authenticate(
            rt.db.session,
            request.form.get("email", ""),
            request.form.get("password", ""),
            request.form.get("code") or None,
        )
        rt.db.session.commit()
        if user is not None:
            session.clear()  # a fresh session at sign-in (no fixation)
            session["staff_sid"] = sessions.start(rt.db.session, user)
            rt.db.session.commit()
            target = same_site_path(request.args.get("next"), "")
            return redirect(
                target if target.startswith("/staff/") else url_for("dashboard.overview")
            )
        error = LOGIN_FAILED
    return _render("dashboard/login.html", 401 if error else 200, error=error)


@bp.post("/logout")
def logout():
    """Sign out: the server-side session ends, so a saved cookie opens nothing."""
    rt = runtime()
    sessions.end(rt.db.session, session.get("staff_sid"))
    rt.db.session.commit()
    session.clear()
    return redirect(url_for("dashboard.login"))


def _today() -> dt.date:
    return receipt_day(utcnow())


def _open():
    return DataRequest.status.not_in(lifecycle.TERMINAL)


@bp.get("/")
def overview():
    """Counts by status, due this week, overdue, on-time rate, requests per week by type."""
    s = runtime().db.session
    today = _today()
    by_status = dict(
        s.execute(select(DataRequest.status, func.count()).group_by(DataRequest.status)).all()
    )
    due_week = s.scalar(
        select(func.count())
        .select_from(DataRequest)
        .where(
            _open(),
            DataRequest.due_date >= today,
            DataRequest.due_date <= today + dt.timedelta(days=7),
        )
    )
    overdue = s.scalar(
        select(func.count()).select_from(DataRequest).where(_open(), DataRequest.due_date < today)
    )
    weeks, months = _history(s)
    return _render(
        "dashboard/overview.html",
        by_status=by_status,
        due_week=due_week,
        overdue=overdue,
        chart=_chart(weeks),
        on_time=sorted(months.items()),
        statuses=lifecycle.STATUSES,
    )


HISTORY_SECONDS = 300


def _history(s) -> tuple[dict, dict]:
    """Requests per week and on-time closures per month, recomputed at most every 5 minutes.

    They change slowly and cost a scan of months of rows (~0.6 s at 1,000,000 requests), so one
    computation serves every page view of the next minutes (per process).
    """
    cache = current_app.extensions.setdefault("privacy.history", {})
    if cache.get("until", 0) > time.monotonic():
        return cache["weeks"], cache["months"]
    weeks: dict = {}
    for week, kind, count in s.execute(_per_week(s)).all():
        weeks.setdefault(week, Counter())[kind] += count
    months = {
        month: (int(ok or 0), total) for month, total, ok in s.execute(_on_time_per_month(s)).all()
    }
    cache.update(weeks=weeks, months=months, until=time.monotonic() + HISTORY_SECONDS)
    return weeks, months


def _local(s, column, fmt_pg: str, fmt_sqlite: str):
    """``column`` as text in Shanghai time, by format (the databases spell it differently)."""
    if s.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), fmt_pg)
    return func.strftime(fmt_sqlite, column, "+8 hours")


def _per_week(s):
    """Requests received per ISO week and type over the last 8 weeks (aggregated in SQL)."""
    week = _local(s, DataRequest.received_at, 'IYYY-"W"IW', "%Y-W%W")
    since = utcnow() - dt.timedelta(weeks=8)
    return (
        select(week, DataRequest.type, func.count())
        .where(DataRequest.received_at >= since)
        .group_by(week, DataRequest.type)
    )


def _on_time_per_month(s):
    """Requests closed per month over the last 6 months, and how many by their due date."""
    month = _local(s, DataRequest.closed_at, "YYYY-MM", "%Y-%m")
    closed_day = _local(s, DataRequest.closed_at, "YYYY-MM-DD", "%Y-%m-%d")
    due = (
        func.to_char(DataRequest.due_date, "YYYY-MM-DD")
        if s.get_bind().dialect.name == "postgresql"
        else DataRequest.due_date
    )
    on_time = func.sum(case((closed_day <= due, 1), else_=0))
    since = utcnow() - dt.timedelta(days=183)
    return (
        select(month, func.count(), on_time)
        .where(DataRequest.closed_at >= since)
        .group_by(month)
        .order_by(month)
    )


def _chart(weeks: dict) -> str:
    """Requests per week by type, as an inline SVG (no script, no library)."""
    kinds = ("access", "correction", "deletion", "account_closure")
    colours = dict(zip(kinds, ("#0b4f6c", "#f4a261", "#a4161a", "#2a9d8f"), strict=True))
    ordered = sorted(weeks.items())[-8:]
    top = max([sum(c.values()) for _, c in ordered] + [1])
    bars = []
    for i, (week, counts) in enumerate(ordered):
        y = 160
        for kind in kinds:
            h = 140 * counts.get(kind, 0) / top
            if h:
                bars.append(
                    f'<rect x="{20 + i * 45}" y="{y - h:.1f}" width="30" height="{h:.1f}" '
                    f'fill="{colours[kind]}"><title>{week} {kind}: {counts[kind]}</title></rect>'
                )
                y -= h
        bars.append(
            f'<text x="{35 + i * 45}" y="175" font-size="10" text-anchor="middle">'
            f"{str(week)[-3:]}</text>"
        )
    legend = "".join(f'<tspan fill="{colours[k]}">■ {k} </tspan>' for k in kinds)
    return (
        '<svg role="img" aria-label="每周请求数 Requests per week" '
        'viewBox="0 0 400 195" width="100%">'
        f'{"".join(bars)}<text x="10" y="192" font-size="10">{legend}</text></svg>'
    )


def _search(s, query: str):
    """Requests matching a request id, an email, a phone or an ID number (via blind indexes)."""
    rt = runtime()
    query = query.strip()
    if is_uuid(query):
        return DataRequest.id == query.lower()
    for kind in ("email", "phone"):
        try:
            return DataRequest.contact_bidx == rt.vault.blind_index(kind, query)
        except InvalidValue:
            continue
    try:
        bidx = rt.vault.blind_index("id_number", query)
    except InvalidValue:
        return DataRequest.id == ""  # nothing matches
    subjects = select(IdentityDocument.subject_id).where(IdentityDocument.id_number_bidx == bidx)
    return DataRequest.subject_id.in_(subjects)


@bp.route("/requests", methods=["GET", "POST"])
def queue():
    """The queue: filters by type, status, due window, overdue; pages.

    Searching by email, phone or ID number is a POST, so those values never appear in a URL
    (nor in logs of proxies), and the page does not echo them back.
    """
    s = runtime().db.session
    today = _today()
    args = request.args.copy()
    if request.method == "POST":
        args["q"] = request.form.get("q", "")
        args["all"] = "1"
    stmt = select(DataRequest)
    if args.get("type"):
        stmt = stmt.where(DataRequest.type == args["type"])
    if args.get("status"):
        stmt = stmt.where(DataRequest.status == args["status"])
    elif not args.get("all"):
        stmt = stmt.where(_open())
    due_within = int_arg(args.get("due_within"), default=-1, low=0, high=MAX_DAYS)
    if due_within >= 0:
        stmt = stmt.where(DataRequest.due_date <= today + dt.timedelta(days=due_within))
    if args.get("overdue"):
        stmt = stmt.where(_open(), DataRequest.due_date < today)
    if args.get("q"):
        stmt = stmt.where(_search(s, args["q"]))
    page = int_arg(args.get("page"), default=1, low=1, high=MAX_PAGE)
    rows = s.scalars(
        stmt.order_by(DataRequest.due_date, DataRequest.id)
        .offset((page - 1) * PAGE)
        .limit(PAGE + 1)
    ).all()
    calendar = runtime().policies.calendar
    items = [(r, calendar.working_days_between(today, r.due_date)) for r in rows[:PAGE]]
    args.pop("q", None)
    return _render(
        "dashboard/queue.html",
        items=items,
        page=page,
        more=len(rows) > PAGE,
        args=args,
        statuses=lifecycle.STATUSES,
        searched=request.method == "POST",
    )


def _request(request_id: str) -> DataRequest:
    found = runtime().db.session.get(DataRequest, request_id) if is_uuid(request_id) else None
    if found is None:
        abort(404)
    return found


def _old_value(rt, subject, item) -> str:
    """The current value of a field to correct, masked (for the side-by-side review)."""
    for source, table, _field in rt.policies.datamap.correctable().get(
        (item["category"], item["field"]), []
    ):
        collector = rt.collector()
        key = collector.subject_key(source, subject)
        if key is None:
            continue
        stmt = collector.query(source, table, [item["field"]], key)
        if "record_id" in item:
            t = collector.table(source.name, table.name)
            stmt = stmt.where(next(iter(t.primary_key.columns)) == item["record_id"])
        with collector.engines[source.name].connect() as conn:
            row = conn.execute(stmt).first()
        if row is not None and row[1] is not None:
            value = str(row[1])
            return value[:1] + "*" * max(0, len(value) - 2) + value[-1:] if len(value) > 2 else "**"
    return "—"


@bp.get("/requests/<request_id>")
def detail(request_id: str):
    """One request: timeline, verification, note, data found, corrections, blockers, actions."""
    rt = runtime()
    s = rt.db.session
    r = _request(request_id)
    subject = s.get(Subject, r.subject_id) if r.subject_id else None
    timeline = s.scalars(
        select(AuditEntry).where(AuditEntry.request_id == r.id).order_by(AuditEntry.seq)
    ).all()
    found, corrections, blockers, contact, note = {}, [], [], "—", None
    try:
        contact = mask(r.contact_kind, r.contact)
        note = r.note
        corrections = (
            [(c, _old_value(rt, subject, c)) for c in (r.corrections or [])] if subject else []
        )
    except Exception:
        contact = "（已销毁 destroyed）"
    if subject is not None and r.status not in ("completed",) and subject.email_bidx is not None:
        try:
            for batch in rt.collector().collect(s, subject):
                found[batch.category] = found.get(batch.category, 0) + len(batch.rows)
            if r.type == "account_closure":
                from retention.processor import blockers as closure_blockers

                blockers = closure_blockers(rt.erasure_deps(), subject)
        except SQLAlchemyError:  # a source system is down: the page still shows the request
            s.rollback()
            found = {}
    return _render(
        "dashboard/request.html",
        r=r,
        timeline=timeline,
        verification=s.get(Verification, r.id),
        contact=contact,
        note=note,
        found=found,
        corrections=corrections,
        blockers=blockers,
        categories=rt.policies.categories,
        refusals=REFUSAL_TEMPLATES,
        holds=holds.active(s, r.subject_id) if r.subject_id else [],
        task_failures=task_failures.for_request(s, r),
        can_retry=task_failures.retryable(s, r),
    )


@bp.post("/requests/<request_id>/retry")
@roles("agent", "admin")
def retry(request_id: str):
    """Run a failed background task again (audited; enqueued once this commits)."""
    rt = runtime()
    try:
        task_failures.retry(rt.db.session, _request(request_id), actor=f"staff:{g.staff.id}")
        rt.db.session.commit()
    except Problem as exc:
        rt.db.session.rollback()
        return _render("dashboard/message.html", exc.status, message=exc.detail)
    return redirect(url_for("dashboard.detail", request_id=request_id), code=303)


@bp.post("/requests/<request_id>/approve")
@roles("agent", "admin")
def approve(request_id: str):
    """Approve (corrections are written at once; deletions go to the worker)."""
    rt = runtime()
    try:
        staff.approve(
            rt.db.session, rt.collector(), _request(request_id), actor=f"staff:{g.staff.id}"
        )
        rt.db.session.commit()
    except Problem as exc:
        rt.db.session.rollback()
        return _render("dashboard/message.html", exc.status, message=exc.detail)
    return redirect(url_for("dashboard.detail", request_id=request_id), code=303)


@bp.post("/requests/<request_id>/refuse")
@roles("agent", "admin")
def refuse(request_id: str):
    """Refuse with a templated or written reason (both languages; shown to the customer)."""
    rt = runtime()
    template = REFUSAL_TEMPLATES.get(request.form.get("template", ""))
    zh, en = template or (request.form.get("zh", ""), request.form.get("en", ""))
    try:
        staff.refuse(
            rt.db.session,
            _request(request_id),
            actor=f"staff:{g.staff.id}",
            zh=zh,
            en=en,
            code=request.form.get("template") or "refused",
        )
        rt.db.session.commit()
    except Problem as exc:
        rt.db.session.rollback()
        return _render("dashboard/message.html", exc.status, message=exc.detail)
    return redirect(url_for("dashboard.detail", request_id=request_id), code=303)


@bp.post("/requests/<request_id>/hold")
@roles("admin")
def hold(request_id: str):
    """Place a legal hold on the request's customer (all data, or one category)."""
    rt = runtime()
    r = _request(request_id)
    try:
        until = dt.date.fromisoformat(request.form.get("until", ""))
    except ValueError:
        return _render("dashboard/message.html", 422, message="请填写有效日期。 Give a valid date.")
    reason = request.form.get("reason", "").strip()
    category = request.form.get("category") or None
    if not reason or r.subject_id is None or (category and category not in rt.policies.categories):
        return _render("dashboard/message.html", 422, message="请填写原因。 Give a reason.")
    holds.place(
        rt.db.session,
        subject_id=r.subject_id,
        category=category,
        reason=reason,
        until=until,
        actor=f"staff:{g.staff.id}",
    )
    rt.db.session.commit()
    return redirect(url_for("dashboard.detail", request_id=request_id), code=303)


@bp.get("/audit")
def audit_log():
    """The audit log with filters, and whether the chain verifies."""
    s = runtime().db.session
    stmt = select(AuditEntry)
    if request.args.get("action"):
        stmt = stmt.where(AuditEntry.action == request.args["action"])
    if request.args.get("request_id"):
        stmt = stmt.where(AuditEntry.request_id == request.args["request_id"])
    entries = s.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(200)).all()
    actions = s.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all()
    return _render(
        "dashboard/audit.html",
        entries=entries,
        chain=audit.verify_chain(s),
        actions=actions,
        args=request.args,
    )


@bp.get("/retention")
def retention():
    """The rules, what the next run would remove, and past runs."""
    from privacy_service.purges import PurgeRun
    from retention.engine import preview

    rt = runtime()
    s = rt.db.session
    runs = s.scalars(select(PurgeRun).order_by(PurgeRun.started_at.desc()).limit(20)).all()
    try:
        next_run = preview(rt.collector(), rt.policies, s)
    except SQLAlchemyError:  # a source system is down or not set up: say so, show the rest
        s.rollback()
        next_run = {"_": "source unavailable"}
    return _render(
        "dashboard/retention.html",
        rules=rt.policies.retention.rules,
        identity_rule=rt.policies.retention.identity_documents,
        next_run=next_run,
        runs=runs,
    )
