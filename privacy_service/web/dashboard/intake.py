"""Requests that arrive by e-mail, phone or letter, logged by an agent for the customer.

The deadline runs from when the request was received, not from when it is typed in. The
requester is then verified either by a one-time code sent to the account's contact (the
customer confirms as on the web page), or by the agent, who records how identity was checked and
the evidence. The original message is kept sealed under the customer's key, as a note.
"""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, request, url_for

from privacy_service.crypto.normalize import InvalidValue, normalize
from privacy_service.db import utcnow
from privacy_service.errors import Problem
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests import behalf, lifecycle, service
from privacy_service.subjects.directory import find_by_contact
from privacy_service.web.context import runtime
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import SHANGHAI, actor, audit_request, bp, render
from privacy_service.web.dashboard.labels import METHODS
from privacy_service.web.dashboard.work import set_assignee, write_note

CHANNELS = ("email", "phone", "letter")
TEXT_MAX = 20_000
MAX_AGE_DAYS = 366


def _form_context(rt, **extra) -> dict:
    now = utcnow().astimezone(SHANGHAI)
    return {
        "types": REQUEST_TYPES,
        "relationships": behalf.RELATIONSHIPS,
        "channels": CHANNELS,
        "methods": METHODS,
        "categories": rt.policies.categories,
        "jurisdictions": rt.policies.requests.jurisdictions,
        "default_jurisdiction": rt.policies.requests.default_jurisdiction,
        "now_local": now.strftime("%Y-%m-%dT%H:%M"),
        "errors": {},
        "form": {},
        **extra,
    }


def _parse(form, rt) -> tuple[dict, dict]:
    """The form's values, and errors per field (in both languages)."""
    errors: dict[str, str] = {}
    v: dict = {}
    v["channel"] = form.get("channel", "")
    if v["channel"] not in CHANNELS:
        errors["channel"] = "请选择收到的渠道。 Choose how it arrived."
    try:
        local = dt.datetime.fromisoformat(form.get("received", ""))
        v["received_at"] = local.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)
        if v["received_at"] > utcnow() + dt.timedelta(minutes=5):
            errors["received"] = "收到时间不能在将来。 The time received cannot be in the future."
        elif v["received_at"] < utcnow() - dt.timedelta(days=MAX_AGE_DAYS):
            errors["received"] = "收到时间超过一年前。 Received more than a year ago."
    except ValueError:
        errors["received"] = "请填写收到的日期和时间。 Give the date and time it was received."
    v["type"] = form.get("type", "")
    if v["type"] not in REQUEST_TYPES:
        errors["type"] = "请选择请求类型。 Choose the type of request."
    v["contact_kind"] = form.get("contact_kind", "")
    v["contact"] = form.get("contact", "").strip()[:254]
    if v["contact_kind"] not in ("email", "phone") or not v["contact"]:
        errors["contact"] = "请填写客户的邮箱或手机。 Give the customer's e-mail or phone."
    _parse_behalf(form, v, errors)
    v["jurisdiction"] = form.get("jurisdiction") or rt.policies.requests.default_jurisdiction
    v["categories"] = [c for c in form.getlist("categories") if c in rt.policies.categories]
    v["asked"] = form.get("asked", "").strip()[:TEXT_MAX]
    if not v["asked"]:
        errors["asked"] = "请写下客户的要求。 Write what the customer asked for."
    original = form.get("original", "").strip()
    upload = request.files.get("original_file")
    if upload and upload.filename:
        original = upload.read(TEXT_MAX + 1).decode("utf-8", errors="replace")
    v["original"] = original[:TEXT_MAX]
    v["method"] = form.get("method", "")
    if v["method"] not in METHODS:
        errors["method"] = "请选择如何核实身份。 Choose how identity is checked."
    v["evidence"] = form.get("evidence", "").strip()[:TEXT_MAX]
    if v["method"] in METHODS and v["method"] != "code" and not v["evidence"]:
        errors["evidence"] = "请写明核实的经过和证据。 Describe how identity was checked."
    return v, errors


def _parse_behalf(form, v: dict, errors: dict) -> None:
    """For someone else: the relationship and the requester's own contact (codes go there)."""
    v["relationship"] = form.get("relationship") or behalf.SELF
    if v["relationship"] not in (behalf.SELF, *behalf.RELATIONSHIPS):
        errors["relationship"] = "请选择为谁提出。 Choose whom the request is for."
        return
    if v["relationship"] == behalf.SELF:
        return
    if v.get("type") in REQUEST_TYPES and not behalf.allowed(v["relationship"], v["type"]):
        errors["relationship"] = (
            "此身份不能提出这类请求。 This relationship cannot make this request."
        )
    kind = form.get("requester_contact_kind", "")
    try:
        if kind not in ("email", "phone"):
            raise InvalidValue(kind)
        v["requester"] = {kind: normalize(kind, form.get("requester_contact", "").strip()[:254])}
    except InvalidValue:
        errors["requester_contact"] = (
            "请填写申请人本人有效的邮箱或手机。 Give the requester's own valid e-mail or phone."
        )
        return
    name = form.get("requester_name", "").strip()[:100]
    if name:
        v["requester"]["name"] = name


@bp.get("/requests/new")
@roles("agent", "admin")
def new_request():
    """The form for a request received by e-mail, phone or letter."""
    return render("dashboard/new_request.html", **_form_context(runtime()))


@bp.post("/requests/new")
@roles("agent", "admin")
def log_request():
    """Log the request; verify by code (sent now) or by the agent's recorded check."""
    rt = runtime()
    s = rt.db.session
    v, errors = _parse(request.form, rt)
    form = {k: request.form.get(k, "") for k in request.form}
    form["categories"] = request.form.getlist("categories")
    if not errors:
        try:
            customer = find_by_contact(s, v["contact_kind"], v["contact"])
        except InvalidValue:
            customer = None
            errors["contact"] = "邮箱或手机格式不正确。 The e-mail or phone is not valid."
        else:
            if customer is None:
                errors["contact"] = (
                    "没有使用此联系方式的客户。 No customer has this contact; check it with them."
                )
    if errors:
        return render(
            "dashboard/new_request.html", 422, **_form_context(rt, errors=errors, form=form)
        )
    data = {
        "type": v["type"],
        v["contact_kind"]: v["contact"],
        "jurisdiction": v["jurisdiction"],
        "note": v["asked"],
    }
    if v["categories"]:
        data["categories"] = v["categories"]
    if v["relationship"] != behalf.SELF:
        data["on_behalf"] = {"relationship": v["relationship"], **v["requester"]}
    try:
        r = service.submit(
            s,
            rt,
            data,
            language="zh-CN",
            received_at=v["received_at"],
            logged_by=actor(),
            channel_in=v["channel"],
        )
        set_assignee(s, r, g.staff.id)
        if v["original"]:
            write_note(s, r, v["original"], "original")
        if v["method"] != "code":
            write_note(s, r, v["evidence"], "evidence")
            r.verification.voided = True
            audit_request(
                s,
                r,
                "request.verified_by_staff",
                fields=["evidence"],
                details={"method": v["method"]},
            )
            lifecycle.transition(s, r, lifecycle.VERIFIED, actor=actor())
            service.after_verification(s, rt, r)
        s.commit()
    except Problem as exc:
        s.rollback()
        errors = {"form": exc.detail + (f" {exc.errors}" if exc.errors else "")}
        return render(
            "dashboard/new_request.html", 422, **_form_context(rt, errors=errors, form=form)
        )
    flash(
        "请求已登记；验证码已发送给客户。 Logged; a code was sent to the customer."
        if v["method"] == "code"
        else "请求已登记并已核实身份。 Logged and verified."
    )
    return redirect(url_for("dashboard.detail", request_id=r.id), code=303)
