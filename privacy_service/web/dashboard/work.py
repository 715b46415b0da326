"""Working on a request; every change is audited.

Assignment, internal notes, questions to the customer, legal holds, revealing a value under
correction, opening the records found.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, g, redirect, request, url_for

from privacy_service import audit, holds
from privacy_service.db import is_uuid, utcnow
from privacy_service.notices import outbox
from privacy_service.requests import extension, lifecycle
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.models import Subject
from privacy_service.team.accounts import StaffUser
from privacy_service.team.models import RequestNote
from privacy_service.web.context import get_or_404
from privacy_service.web.dashboard import labels
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import (
    actor,
    audit_request,
    bp,
    message,
    render,
    staff_names,
    to_request,
    today,
    with_request,
)
from privacy_service.web.dashboard.request_page import current_value, page_context

NOTE_MAX = 4000
RECORDS_SHOWN = 200
QUESTION_SUBJECT = (
    "关于您的隐私请求，我们需要更多信息 / We need more information about your request"
)
QUESTION_TEXT = (
    "关于您的请求 {request_id}，隐私团队需要以下信息：\n\n{question}\n\n"
    "请直接回复此消息，或联系客户服务。\n\n"
    "About your request {request_id}, the privacy team needs the following:\n\n{question}\n\n"
    "Please reply to this message or contact customer service.\n"
)


def assign(session, r: DataRequest, to: str | None, *, by: str) -> None:
    """Give the request to a staff member (or to nobody); audited with both names' ids."""
    if to == r.assignee_id:
        return
    audit.record(
        session,
        "request.assigned",
        actor=by,
        request_id=r.id,
        subject_id=r.subject_id,
        details={"from": r.assignee_id, "to": to},
    )
    set_assignee(session, r, to)


def set_assignee(session, r: DataRequest, to: str | None) -> None:
    """Set the assignee and its sort key (the member's e-mail, "" for nobody).

    The queue sorts by assignee on an index of that column, with no join to the staff table.
    """
    member = session.get(StaffUser, to) if to else None
    r.assignee_id = to
    r.assignee_sort = member.email if member is not None else ""


def assignee_from(session, value: str) -> tuple[bool, str | None]:
    """(valid, staff id or None) from a form's ``to``: ``me``, ``""`` (nobody) or a staff id."""
    if value == "me":
        return True, g.staff.id
    if value == "":
        return True, None
    if not is_uuid(value):
        return False, None
    member = session.get(StaffUser, value)
    ok = member is not None and member.role in ("agent", "admin") and member.disabled_at is None
    return ok, value if ok else None


@bp.post("/requests/<uuid:request_id>/assign")
@roles("agent", "admin")
@with_request
def assign_request(rt, r: DataRequest):
    """Assign, reassign, self-assign or unassign."""
    ok, to = assignee_from(rt.db.session, request.form.get("to", "me"))
    if not ok:
        return message("请选择团队成员。 Choose a team member.", 422)
    assign(rt.db.session, r, to, by=actor())
    rt.db.session.commit()
    flash(
        f"已分配给 Assigned to {labels.actor(f'staff:{to}', staff_names())}"
        if to
        else "已取消分配 Unassigned"
    )
    nxt = request.form.get("next", "")
    return redirect(
        nxt if nxt.startswith("/staff/") else url_for("dashboard.detail", request_id=r.id), code=303
    )


def write_note(session, r: DataRequest, body: str, kind: str) -> RequestNote:
    """A note on the request by the signed-in member, sealed under the customer's key."""
    note = RequestNote(request_id=r.id, key_owner=r.key_owner, author_id=g.staff.id, kind=kind)
    session.add(note)
    note.body = body
    return note


@bp.post("/requests/<uuid:request_id>/notes")
@roles("agent", "admin")
@with_request
def add_note(rt, r: DataRequest):
    """An internal note (never shown to the customer)."""
    body = request.form.get("body", "").strip()
    if not body or len(body) > NOTE_MAX:
        errors = {
            "note": f"请写备注（最多 {NOTE_MAX} 字）。 "
            f"Write a note (at most {NOTE_MAX} characters)."
        }
        return render(
            "dashboard/request.html", 422, **page_context(r, errors=errors, form={"body": body})
        )
    write_note(rt.db.session, r, body, "note")
    audit_request(rt.db.session, r, "request.note_added", fields=["note"])
    rt.db.session.commit()
    flash("备注已保存 Note saved")
    return to_request(r)


@bp.post("/requests/<uuid:request_id>/ask")
@roles("agent", "admin")
@with_request
def ask_customer(rt, r: DataRequest):
    """Ask the customer for more information, through the request's channel; the team waits.

    The public status does not change (the contract's statuses stay); the request is marked as
    waiting, and the deadline keeps running unless the jurisdiction's policy pauses it.
    """
    s = rt.db.session
    question = request.form.get("question", "").strip()
    if r.status in lifecycle.TERMINAL or r.status == lifecycle.PENDING_VERIFICATION:
        return message(
            "只能就处理中的已验证请求询问客户。 Only an open, verified request can be asked about.",
            409,
        )
    if not question or len(question) > NOTE_MAX:
        errors = {"question": "请写下要询问客户的内容。 Write what to ask the customer."}
        return render(
            "dashboard/request.html",
            422,
            **page_context(r, errors=errors, form={"question": question}),
        )
    try:
        to = r.contact
    except Exception:
        to = None
    if not to:
        return message("无法联系客户。 The customer cannot be reached.", 409)
    write_note(s, r, question, "question")
    r.waiting_since = utcnow()
    audit_request(
        s,
        r,
        "request.information_requested",
        fields=["question"],
        details={"channel": r.contact_kind},
    )
    outbox.add(  # written with the note, sent once this commits
        s,
        kind="question",
        channel=r.contact_kind,
        to=to,
        subject=QUESTION_SUBJECT,
        text=QUESTION_TEXT.format(request_id=r.id, question=question),
        request_id=r.id,
    )
    s.commit()
    flash("已发送给客户；等待答复。 Sent to the customer; waiting for the answer.")
    return to_request(r)


@bp.post("/requests/<uuid:request_id>/answered")
@roles("agent", "admin")
@with_request
def customer_answered(rt, r: DataRequest):
    """The customer answered: the team stops waiting (the answer goes in a note)."""
    s = rt.db.session
    if r.waiting_since is None:
        return to_request(r)
    body = request.form.get("body", "").strip()[:NOTE_MAX]
    if body:
        write_note(s, r, body, "answer")
    r.waiting_since = None
    audit_request(s, r, "request.information_received", fields=["answer"] if body else [])
    s.commit()
    flash("已记录客户答复 Customer's answer recorded")
    return to_request(r)


def _hold_form(rt, form) -> tuple[dict, dict]:
    """Parsed hold fields and errors (a date in the past is refused: it would hold nothing)."""
    errors, values = {}, {}
    try:
        values["until"] = dt.date.fromisoformat(form.get("until", ""))
        if values["until"] < today():
            errors["until"] = "截止日期不能早于今天。 The end date cannot be in the past."
    except ValueError:
        errors["until"] = "请填写有效日期。 Give a valid date."
    values["reason"] = form.get("reason", "").strip()[:2000]
    if not values["reason"]:
        errors["reason"] = "请填写原因。 Give a reason."
    values["category"] = form.get("category") or None
    if values["category"] and values["category"] not in rt.policies.categories:
        errors["category"] = "未知类别。 Unknown category."
    return values, errors


@bp.post("/requests/<uuid:request_id>/hold")
@roles("admin")
@with_request
def hold(rt, r: DataRequest):
    """Place a legal hold on the request's customer (all data, or one category)."""
    if r.subject_id is None:
        return message("不是客户。 Not a customer.", 422)
    values, errors = _hold_form(rt, request.form)
    if errors:
        form = {f"hold_{k}": request.form.get(k, "") for k in ("until", "reason", "category")}
        return render("dashboard/request.html", 422, **page_context(r, errors=errors, form=form))
    holds.place(
        rt.db.session,
        subject_id=r.subject_id,
        actor=actor(),
        categories=rt.policies.categories,
        **values,
    )
    rt.db.session.commit()
    flash("法律保全已设置 Legal hold placed")
    return to_request(r)


def _hold_of(r: DataRequest, hold_id: str):
    found = get_or_404(holds.LegalHold, hold_id)
    if found.subject_id != r.subject_id:
        abort(404)
    return found


@bp.post("/requests/<uuid:request_id>/holds/<uuid:hold_id>")
@roles("admin")
@with_request
def change_hold(rt, r: DataRequest, hold_id: str):
    """Change a hold's category, reason or end date."""
    h = _hold_of(r, hold_id)
    values, errors = _hold_form(rt, request.form)
    if not holds.in_force(h):
        errors["hold"] = "此保全已结束。 This hold has ended."
    if errors:
        return render("dashboard/request.html", 422, **page_context(r, errors=errors, form={}))
    holds.change(rt.db.session, h, actor=actor(), **values)
    rt.db.session.commit()
    flash("法律保全已修改 Legal hold changed")
    return to_request(r)


@bp.post("/requests/<uuid:request_id>/holds/<uuid:hold_id>/release")
@roles("admin")
@with_request
def release_hold(rt, r: DataRequest, hold_id: str):
    """End a hold now."""
    holds.release(rt.db.session, _hold_of(r, hold_id).id, actor=actor())
    rt.db.session.commit()
    flash("法律保全已解除 Legal hold released")
    return to_request(r)


@bp.post("/requests/<uuid:request_id>/reveal")
@roles("agent", "admin")
@with_request
def reveal(rt, r: DataRequest):
    """Show the current values a correction would replace, whole (audited; not kept anywhere)."""
    s = rt.db.session
    subject = s.get(Subject, r.subject_id) if r.subject_id else None
    items = [c for c in (r.corrections or []) if isinstance(c, dict)] if subject else []
    revealed = [(c, current_value(rt, subject, c, masked=False)) for c in items]
    audit_request(
        s,
        r,
        "request.correction_revealed",
        fields=sorted({f"{c['category']}.{c['field']}" for c in items}),
    )
    s.commit()
    return render("dashboard/request.html", **page_context(r, corrections=revealed, revealed=True))


@bp.get("/requests/<uuid:request_id>/found/<category>")
@with_request
def records(rt, r: DataRequest, category: str):
    """The records of one category found for the customer (first rows; sensitive fields masked)."""
    s = rt.db.session
    if category not in rt.policies.categories or r.subject_id is None:
        abort(404)
    subject = s.get(Subject, r.subject_id)
    sensitive = {
        (t.name, f.name)
        for src in rt.policies.datamap.sources.values()
        for t in src.tables.values()
        for f in t.fields
        if f.sensitive
    }
    tables = []
    for batch in rt.collector().collect(s, subject, categories=[category]):
        shown = [
            [
                ("*" * 6 if (batch.table, col) in sensitive and v is not None else v)
                for col, v in zip(batch.columns, row, strict=False)
            ]
            for row in batch.rows[:RECORDS_SHOWN]
        ]
        tables.append((batch.source, batch.table, batch.columns, shown, len(batch.rows)))
    audit_request(s, r, "request.records_viewed", details={"category": category})
    s.commit()
    return render(
        "dashboard/records.html",
        r=r,
        category=rt.policies.categories[category],
        tables=tables,
        limit=RECORDS_SHOWN,
    )


@bp.post("/requests/<uuid:request_id>/extend")
@roles("agent", "admin")
@with_request
def extend_deadline(rt, r: DataRequest):
    """Extend the deadline once, where the jurisdiction allows it, telling the customer why."""
    s = rt.db.session
    zh = request.form.get("reason_zh", "").strip()[:500]
    en = request.form.get("reason_en", "").strip()[:500]
    if not extension.allowed(s, rt.policies, r):
        return message("此请求不能延期。 This request's deadline cannot be extended.", 409)
    if not zh or not en:
        errors = {"extension": "请用中文和英文写出延期原因。 Give the reason in both languages."}
        return render("dashboard/request.html", 422, **page_context(r, errors=errors, form={}))
    extension.extend(s, rt.policies, r, actor=actor(), reason_zh=zh, reason_en=en)
    write_note(s, r, f"{zh}\n{en}", "extension")
    s.commit()  # the customer's notice (in their language) goes out once this commits
    flash(f"期限已延至 {r.due_date} Deadline extended to {r.due_date}; the customer was told.")
    return to_request(r)
