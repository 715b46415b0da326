"""One request's page, and the decisions taken on it: approve (after a confirmation), refuse."""

from __future__ import annotations

from flask import flash, redirect, request, session, url_for
from sqlalchemy.exc import SQLAlchemyError

from privacy_service import holds, operations
from privacy_service.crypto.normalize import mask
from privacy_service.datamap import steps as source_steps
from privacy_service.datamap.http_source import HttpSourceError
from privacy_service.policies.recipients import RIGHTS, shown
from privacy_service.requests import extension, lifecycle, staff
from privacy_service.requests.models import DataRequest, Verification
from privacy_service.subjects.scope import for_request
from privacy_service.tasks import dispatch
from privacy_service.tasks import failures as task_failures
from privacy_service.tasks.kinds import ERASURE
from privacy_service.web.context import runtime
from privacy_service.web.dashboard import labels, page_queries
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import (
    actor,
    bp,
    message,
    problem_as_message,
    render,
    to_request,
    today,
    with_request,
)
from privacy_service.web.dashboard.requester import requester_context
from retention.processor import blockers as closure_blockers

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


def refusal_templates() -> dict[str, tuple[str, str]]:
    """The refusal templates: the built-in ones, as edited and added to by admins."""
    out = dict(REFUSAL_TEMPLATES)
    for row in page_queries.reply_templates(runtime().db.session):
        out[row.key] = (row.zh, row.en)
    return out


def current_value(rt, subject, item, *, masked: bool = True) -> str:
    """The value a correction would replace: masked, or whole after an audited reveal."""
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
            if not masked:
                return value
            return value[:1] + "*" * max(0, len(value) - 2) + value[-1:] if len(value) > 2 else "**"
    return "—"


def _found(rt, s, r: DataRequest, subject) -> tuple[dict, list]:
    """Records found per category, and closure blockers; empty when a source is down."""
    found, blockers = {}, []
    shredded = subject is not None and subject.email_bidx is None and subject.phone_bidx is None
    if subject is None or r.status == "completed" or shredded:
        return found, blockers
    try:
        for batch in rt.collector().collect(s, subject):
            found[batch.category] = found.get(batch.category, 0) + len(batch.rows)
        if r.type == "account_closure":
            blockers = closure_blockers(rt.erasure_deps(), subject)
    except (SQLAlchemyError, HttpSourceError):  # a source is down: the page still shows
        s.rollback()
        found = {}
    return found, blockers


def _can_extend(rt, r: DataRequest) -> bool:
    return extension.allowed(rt.db.session, rt.policies, r)


def page_context(r: DataRequest, **extra) -> dict:
    """Everything the request page shows."""
    rt = runtime()
    s = rt.db.session
    subject = for_request(s, r)
    corrections, contact, note, readable = [], "—", None, True
    try:
        contact = mask(r.contact_kind, r.contact)
        note = r.note
        corrections = (
            [(c, current_value(rt, subject, c)) for c in (r.corrections or [])] if subject else []
        )
    except Exception:
        contact, readable = "（已销毁 destroyed）", False
    found, blockers = _found(rt, s, r, subject)
    notes = page_queries.notes_of(s, r.id) if readable else []
    jurisdiction = rt.policies.requests.jurisdictions.get(r.jurisdiction)
    names = {code: c.name for code, c in rt.policies.categories.items()}
    return {
        "r": r,
        "timeline": page_queries.timeline(s, r),
        "verification": s.get(Verification, r.id),
        "contact": contact,
        "note": note,
        "found": found,
        "corrections": corrections,
        "blockers": blockers,
        "categories": rt.policies.categories,
        "refusals": refusal_templates(),
        "holds": holds.all_for(s, r.subject_id) if r.subject_id else [],
        "notes": notes,
        "source_steps": source_steps.for_request(s, r.id),
        "assignable": page_queries.assignable_staff(s),
        "clock_pauses": bool(jurisdiction and jurisdiction.clock_pauses_for_information),
        "left": rt.policies.calendar.working_days_between(today(), r.due_date),
        "today_date": today(),
        "can_extend": _can_extend(rt, r),
        "extension": jurisdiction.extension if jurisdiction else None,
        "task_failures": task_failures.for_request(s, r),
        "can_retry": task_failures.retryable(s, r),
        "errors": {},
        "form": {},
        "check_form": {},
        # Who receives the categories this request is about (all when it names none).
        "recipients": shown(rt.policies.recipients, names, set(r.categories or names)),
        "recipients_rights": RIGHTS,
        **requester_context(s, r),
        **extra,
    }


@bp.post("/requests/<uuid:request_id>/sources/<source>/not-applicable")
@roles("admin")
@with_request
def source_not_applicable(rt, r: DataRequest, source: str):
    """Mark a failing source as not applicable to this request, with a reason (audited)."""
    reason = request.form.get("reason", "").strip()
    action = request.form.get("action", "")
    if not reason or len(reason) > 500 or source not in rt.policies.datamap.sources:
        return message("请填写理由。 Give a reason.", 422)
    if action not in source_steps.ACTIONS.values():
        return message("未知操作。 Unknown action.", 422)
    source_steps.mark_not_applicable(
        rt.db.session, r.id, source, action, reason=reason, actor=actor()
    )
    if r.claim_until is not None:
        r.claim_until = None  # a worker picks it up again at once
        dispatch.on_commit(rt.db.session, ERASURE, r.id)
    rt.db.session.commit()
    return to_request(r)


@bp.post("/requests/<uuid:request_id>/sources/retry")
@roles("agent", "admin")
@with_request
def sources_retry(rt, r: DataRequest):
    """Try the failed sources again at the worker's next run (audited)."""
    with problem_as_message():
        retried = source_steps.retry_now(rt.db.session, r, actor=actor())
    dispatch.on_commit(rt.db.session, ERASURE, r.id)  # the worker's claim runs it
    rt.db.session.commit()
    flash(f"将重试 Will retry: {', '.join(retried)}")
    return to_request(r)


@bp.post("/requests/<uuid:request_id>/retry")
@roles("agent", "admin")
@with_request
def retry(rt, r: DataRequest):
    """Run a failed background task again (audited; enqueued once this commits)."""
    with problem_as_message():
        kind = task_failures.retry(rt.db.session, r, actor=actor())
        rt.db.session.commit()
    flash(f"已重新排队 Queued again: {kind} {labels.short_id(r.id)}")
    return to_request(r)


@bp.get("/requests/<uuid:request_id>")
@with_request
def detail(_rt, r: DataRequest):
    """One request: summary, assignment, notes, data found, corrections, holds, decisions."""
    return render("dashboard/request.html", **page_context(r))


def _approval_changes(r: DataRequest) -> list[str]:
    """What approving will do, in words, for the confirmation page."""
    rt = runtime()
    s = rt.db.session
    if r.type == "correction":
        return [
            f"{c['category']}.{c['field']} → {c['value']}"
            for c in (r.corrections or [])
            if isinstance(c, dict)
        ] + ["更正立即写入各系统。 The corrections are written to the systems at once."]
    if r.type == "access":
        # Only on someone else's behalf does an access request wait for approval.
        return [
            f"为申请人（{labels.relationship(r.on_behalf)}）生成账户持有人的数据副本并允许其下载。 "
            "Build a copy of the account holder's data and let the requester download it.",
            "请确认已核实申请人的证明材料。 Make sure the requester's evidence was checked.",
        ]
    subject = for_request(s, r)
    found, _ = _found(rt, s, r, subject)
    categories = rt.policies.categories
    wanted = set(r.categories or []) or set(found)
    lines = [
        f"{categories[c].name['zh-CN']} {categories[c].name['en']}: {n} 条记录 records"
        for c, n in sorted(found.items())
        if c in wanted and c in categories
    ]
    total = sum(n for c, n in found.items() if c in wanted)
    head = (
        "注销账户：冷静期后删除或匿名化客户的全部数据。 Account closure: after the cooling-off "
        "period, all of the customer's data is deleted or anonymised."
        if r.type == "account_closure"
        else f"删除（不可撤销）：最多 {total} 条记录。 Deletion (cannot be undone): "
        f"up to {total} records."
    )
    held = holds.active(s, r.subject_id) if r.subject_id else []
    tail = (
        [
            f"{len(held)} 项法律保全所涵盖的数据将保留。 "
            f"Data under {len(held)} legal hold(s) is kept."
        ]
        if held
        else []
    )
    return [head, *lines, *tail]


@bp.route("/requests/<uuid:request_id>/approve", methods=["GET", "POST"])
@roles("agent", "admin")
@with_request
def approve(rt, r: DataRequest):
    """Approve after a confirmation page listing what will change (deletions cannot be undone)."""
    if request.method == "GET":
        if r.status != lifecycle.AWAITING_REVIEW:
            return redirect(url_for("dashboard.detail", request_id=r.id))
        return render(
            "dashboard/confirm.html",
            title=f"批准 Approve: {labels.request_type(r.type)} {labels.short_id(r.id)}",
            changes=_approval_changes(r),
            action=url_for("dashboard.approve", request_id=r.id),
            cancel=url_for("dashboard.detail", request_id=r.id),
            danger=r.type in ("deletion", "account_closure"),
        )
    with problem_as_message():
        operations.approve(rt.db.session, rt, r, actor=actor())
        rt.db.session.commit()
    flash(
        f"已批准 Approved: {labels.request_type(r.type)} {labels.short_id(r.id)} — "
        f"{labels.status(r.status)}"
    )
    return to_request(r)


def refusal_text(form) -> tuple[str, str, str, dict]:
    """The reason in both languages: a template, the agent's own words, or both together.

    Returns (zh, en, code, errors); text typed after choosing a template is kept after it.
    """
    key = form.get("template", "")
    template = refusal_templates().get(key)
    zh, en = form.get("zh", "").strip(), form.get("en", "").strip()
    if template:
        zh = f"{template[0]}\n{zh}".strip()
        en = f"{template[1]}\n{en}".strip()
        return zh, en, key, {}
    if not zh or not en:
        return (
            zh,
            en,
            "refused",
            {
                "reason": "请选择理由模板，或用中文和英文写出理由。 "
                "Choose a template or write the reason in both Chinese and English."
            },
        )
    return zh, en, "refused", {}


@bp.post("/requests/<uuid:request_id>/refuse")
@roles("agent", "admin")
@with_request
def refuse(rt, r: DataRequest):
    """Refuse with a templated and/or written reason (both languages; shown to the customer)."""
    zh, en, code, errors = refusal_text(request.form)
    if errors:
        form = {k: request.form.get(k, "") for k in ("template", "zh", "en")}
        return render("dashboard/request.html", 422, **page_context(r, errors=errors, form=form))
    with problem_as_message():
        staff.refuse(rt.db.session, r, actor=actor(), zh=zh, en=en, code=code)
        rt.db.session.commit()
    flash(f"已拒绝 Refused: {labels.request_type(r.type)} {labels.short_id(r.id)}")
    return to_request(r)


def remember_queue(url: str) -> None:
    """Where "back to the queue" leads (the last queue page, filters and page included)."""
    session["queue_back"] = url
