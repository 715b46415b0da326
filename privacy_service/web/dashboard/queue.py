"""The queue: filters, sortable columns, page sizes, counts, saved views, search, bulk actions."""

from __future__ import annotations

import csv
import io
import time

from flask import Response, abort, current_app, flash, g, redirect, request, session, url_for
from sqlalchemy import select

from privacy_service import operations
from privacy_service.errors import Problem
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests import lifecycle, staff
from privacy_service.requests.models import DataRequest
from privacy_service.team.models import SavedView
from privacy_service.web.context import runtime
from privacy_service.web.dashboard import page_queries, queries
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import (
    actor,
    bp,
    query_string,
    render,
    staff_names,
    today,
    with_request,
)
from privacy_service.web.dashboard.queries import QueueFilter
from privacy_service.web.dashboard.request_page import refusal_templates, remember_queue
from privacy_service.web.dashboard.work import assign, assignee_from

# Views every member has; their own saved views come after these.
BUILT_IN_VIEWS = (
    ("mine", "我的请求 My requests", {"assignee": "me"}),
    ("my-overdue", "我的逾期 My overdue", {"assignee": "me", "overdue": "1"}),
    ("awaiting-review", "待审核 Awaiting review", {"status": "awaiting_review"}),
    ("unassigned", "未分配 Unassigned", {"assignee": "none"}),
    ("waiting", "等待客户 Waiting for the customer", {"waiting": "1"}),
)
COLUMNS = (
    ("type", "类型 Type"),
    ("status", "状态 Status"),
    ("assignee", "负责人 Assignee"),
    ("received", "收到 Received"),
    ("due", "期限 Due"),
)


COUNT_SECONDS = 30


def _counts(s, wanted: dict) -> dict:
    """How many requests match each filter (``{key: conditions}``), up to the cap; cached 30 s.

    A key starting with None is never cached (a search). The counts stop past
    ``queries.COUNT_CAP`` (at most that many index entries read per filter, whatever it matches
    at a million requests; the page says "1,000+"), and those not cached are taken in one
    statement. The figures orient the team and may lag by seconds.
    """
    cache = current_app.extensions.setdefault("privacy.queue_counts", {})
    now = time.monotonic()
    out, todo = {}, {}
    for key, conditions in wanted.items():
        hit = cache.get(key) if key[0] is not None else None
        if hit and hit[1] > now:
            out[key] = hit[0]
        else:
            todo[key] = conditions
    if todo:
        fresh = queries.counts(s, todo)
        if len(cache) > 5000:
            cache.clear()
        for key, value in fresh.items():
            if key[0] is not None:
                cache[key] = (value, now + COUNT_SECONDS)
        out.update(fresh)
    return out


def _filter_key(f: QueueFilter, day) -> tuple:
    args = f.args()
    for k in ("page", "sort", "dir", "size", "after", "before"):
        args.pop(k, None)
    return (
        "filter",
        g.staff.id if args.get("assignee") == "me" else "",
        day,
        tuple(sorted(args.items())),
    )


@bp.route("/requests", methods=["GET", "POST"])
def queue():
    """The queue. Searching (POST) keeps e-mails, phones and ID numbers out of every URL."""
    rt = runtime()
    s = rt.db.session
    day = today()
    calendar = rt.policies.calendar
    f = QueueFilter.parse(request.args)
    searched = request.method == "POST"
    where = f.conditions(g.staff.id, day, calendar)
    if searched:
        where = [queries.search(s, rt.vault, request.form.get("q", "")[:200])]
    else:
        remember_queue(request.full_path.rstrip("?"))
    rows, more, earlier = queries.page_of(s, select(DataRequest).where(*where), f)
    wanted = {
        ("view", g.staff.id, day, key): QueueFilter.parse(args).conditions(
            g.staff.id, day, calendar
        )
        for key, _, args in BUILT_IN_VIEWS
    }
    total_key = (None,) if searched else _filter_key(f, day)
    wanted[total_key] = where
    counted = {k: queries.count_label(n) for k, n in _counts(s, wanted).items()}
    view_counts = {key: counted[("view", g.staff.id, day, key)] for key, _, _ in BUILT_IN_VIEWS}
    saved = page_queries.saved_views(s, g.staff.id)
    args = f.args()
    return render(
        "dashboard/queue.html",
        items=[(r, calendar.working_days_between(day, r.due_date)) for r in rows],
        # How many requests each customer on the page has in all (to link them together).
        per_customer=page_queries.requests_per_customer(s, {r.subject_id for r in rows} - {None}),
        total=counted[total_key],
        f=f,
        args=args,
        more=more,
        earlier=earlier,
        first_id=rows[0].id if rows else "",
        last_id=rows[-1].id if rows else "",
        searched=searched,
        statuses=lifecycle.STATUSES,
        types=REQUEST_TYPES,
        columns=COLUMNS,
        sizes=queries.PAGE_SIZES,
        views=BUILT_IN_VIEWS,
        refusals=refusal_templates(),
        view_counts=view_counts,
        saved=saved,
        qs=lambda **changes: query_string(args, **changes),
        names=staff_names(),
    )


@bp.get("/requests/<uuid:request_id>/customer")
@with_request
def customer_requests(_rt, r: DataRequest):
    """Every request of the customer behind this one, whatever contact each was made with."""
    if not r.subject_id:
        return redirect(url_for("dashboard.detail", request_id=r.id))
    return redirect(url_for("dashboard.queue", customer=r.id, all=1, sort="received", dir="desc"))


@bp.post("/views")
def save_view():
    """Save the current filter under a name (for this member only)."""
    s = runtime().db.session
    name = request.form.get("name", "").strip()[:80]
    query = QueueFilter.parse(request.form).args()
    for k in ("page", "after", "before"):
        query.pop(k, None)
    if not name:
        flash("请给视图命名。 Give the view a name.")
    else:
        s.add(SavedView(staff_id=g.staff.id, name=name, query=query))
        s.commit()
        flash(f"已保存视图 View saved: {name}")
    return redirect(url_for("dashboard.queue", **query), code=303)


@bp.post("/views/<view_id>/delete")
def delete_view(view_id: str):
    """Remove one of my saved views."""
    s = runtime().db.session
    page_queries.delete_saved_view(s, view_id, g.staff.id)
    s.commit()
    return redirect(url_for("dashboard.queue"), code=303)


def _back_to_queue() -> str:
    return session.get("queue_back") or url_for("dashboard.queue")


# --- bulk actions ------------------------------------------------------------------------------

BULK_MAX = 200


def _selected(s) -> list[DataRequest]:
    ids = [i for i in request.form.getlist("ids") if len(i) == 36][:BULK_MAX]
    return page_queries.requests_by_id(s, ids)


def _csv(rows: list[DataRequest]) -> Response:
    """The selection as CSV: ids, types, statuses, dates, assignee (no personal data)."""
    names = staff_names()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "type", "status", "channel", "received_at", "due_date", "assignee"])
    for r in rows:
        writer.writerow(
            [
                r.id,
                r.type,
                r.status,
                r.channel,
                r.received_at.isoformat(),
                r.due_date.isoformat(),
                names.get(r.assignee_id or "", ""),
            ]
        )
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="requests.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _plan(action: str, rows: list[DataRequest]) -> list[tuple[DataRequest, str | None]]:
    """Each selected request with what the action will do to it (None: left as it is)."""
    templates = refusal_templates()
    plan = []
    for r in rows:
        if action == "approve":
            change = (
                "批准 Approve"
                + (
                    " — 删除不可撤销 deletion cannot be undone"
                    if r.type in ("deletion", "account_closure")
                    else ""
                )
                if r.status == lifecycle.AWAITING_REVIEW
                else None
            )
        elif action.startswith("refuse:"):
            ok = action[7:] in templates and lifecycle.can_transition(r.status, lifecycle.REJECTED)
            change = f"拒绝 Refuse: {templates[action[7:]][0]}" if ok else None
        elif action in ("assign:me", "unassign") or action.startswith("assign:"):
            change = "分配 Assign" if action != "unassign" else "取消分配 Unassign"
            if r.status in lifecycle.TERMINAL:
                change = None
        else:
            abort(400)
        plan.append((r, change))
    return plan


@bp.post("/requests/bulk")
@roles("agent", "admin")
def bulk():
    """Step one of a bulk action: a confirmation listing each request and what will change."""
    s = runtime().db.session
    rows = _selected(s)
    action = request.form.get("action", "")
    if not rows:
        flash("请先选择请求。 Select requests first.")
        return redirect(_back_to_queue(), code=303)
    if action == "export":
        return _csv(rows)
    plan = _plan(action, rows)
    return render(
        "dashboard/bulk_confirm.html",
        plan=plan,
        action=action,
        changing=sum(1 for _, c in plan if c),
    )


@bp.post("/requests/bulk/confirm")
@roles("agent", "admin")
def bulk_confirm():
    """Step two: carry out the confirmed action, request by request (each committed alone)."""
    rt = runtime()
    s = rt.db.session
    action = request.form.get("action", "")
    done, skipped = 0, 0
    for r, change in _plan(action, _selected(s)):
        if change is None:
            skipped += 1
            continue
        try:
            if action == "approve":
                operations.approve(s, rt, r, actor=actor())
            elif action.startswith("refuse:"):
                zh, en = refusal_templates()[action[7:]]
                staff.refuse(s, r, actor=actor(), zh=zh, en=en, code=action[7:])
            else:
                ok, to = assignee_from(s, "" if action == "unassign" else action[7:])
                if not ok:
                    abort(422)
                assign(s, r, to, by=actor())
            s.commit()
            done += 1
        except Problem:
            s.rollback()
            skipped += 1
    flash(f"已处理 {done} 个，跳过 {skipped} 个。 Done: {done}; skipped: {skipped}.")
    return redirect(_back_to_queue(), code=303)
