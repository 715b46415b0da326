"""The customer's "request my data" pages: submit, verify, follow, download, cancel.

Server-rendered, Chinese first (texts are gettext msgids, ``i18n.py``), no external resources.
Every form carries the CSRF token of the (signed, HttpOnly) session (Flask-WTF, ``web/forms.py``);
submissions and code resends are rate-limited per IP and per contact. The pages call the same
services as the API; the bearer token a verification yields is kept in the session, never in a
URL.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError

from exports.delivery import download as deliver
from privacy_service import operations
from privacy_service.db import utcnow
from privacy_service.errors import Problem
from privacy_service.i18n import LANGUAGES
from privacy_service.requests import behalf, service, verification
from privacy_service.requests.models import DataRequest, Verification
from privacy_service.requests.schemas import RequestCreateSchema
from privacy_service.subjects.models import Subject
from privacy_service.web.context import get_or_404, runtime
from privacy_service.web.forms import html, same_site_path, zip_download
from privacy_service.web.portal import labels, signin
from privacy_service.web.portal.forms import (
    CORRECTION_ROWS,
    correction_changes,
    field_errors,
    form_data,
    record_choices,
    with_value_errors,
)
from privacy_service.web.portal.i18n import current_language, progress_text, table_label

bp = Blueprint(
    "portal",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/portal-static",
)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _render(template: str, status: int = 200, **context):
    body = render_template(
        template,
        lang=current_language(),  # the policies' own texts (categories, reasons) are per language
        labels=labels,
        tz=SHANGHAI,
        categories=runtime().policies.categories,
        table_label=table_label,
        **context,
    )
    return html(body, status)


def _correctable_options(lang: str) -> list[tuple[str, str]]:
    rt = runtime()
    out = []
    for (category, field), _where in rt.policies.datamap.correctable().items():
        name = rt.policies.categories[category].name[lang]
        out.append((f"{category}:{field}", f"{name} · {rt.policies.label(field)[lang]}"))
    return out


# Where the error summary's links go (the first input of a group).
ERROR_TARGETS = {"type": "type", "categories": "categories", "who": "who"}


@bp.get("/")
def index():
    """The request form."""
    return _render_form({"categories": []}, {})


def _render_form(form, errors, status: int = 200):
    lang = current_language()
    rt = runtime()
    subject_id = signin.current_subject()
    subject = rt.db.session.get(Subject, subject_id) if subject_id else None
    # Signed in: the records a correction can name come as a list, not a number to look up.
    records = record_choices(rt.collector(), subject) if subject else []
    return _render(
        "portal/index.html",
        status,
        form=form,
        errors=errors,
        correctable=_correctable_options(lang),
        correction_rows=CORRECTION_ROWS,
        error_targets=ERROR_TARGETS,
        records=records,
        page_title=_("提交请求") if not errors else _("请检查表单"),
    )


@bp.post("/")
def submit():
    """Submit a request; on success, on to the code page."""
    rt = runtime()
    lang = current_language()
    form = {**request.form.to_dict(), "categories": request.form.getlist("categories")}
    raw = form_data(request.form, current_language())
    rows = [item.pop("row") for item in raw.get("corrections", [])]
    try:
        data = RequestCreateSchema().load(raw)
    except ValidationError as exc:
        # Say everything at once: the values of the well-formed rows are checked too.
        messages = with_value_errors(exc.messages, raw, runtime().policies.datamap)
        return _render_form(form, field_errors(messages, rows), 422)
    try:
        created = service.submit(rt.db.session, rt, data, language=lang)
    except Problem as exc:
        rt.db.session.rollback()
        if exc.status >= 429:  # a limit or an outage: the generic page says so
            raise
        return _render_form(form, field_errors(exc.errors or {"type": [exc.detail]}, rows), 422)
    rt.db.session.commit()
    return redirect(url_for("portal.verify", request_id=created.id), code=303)


def _request_or_404(request_id: str) -> DataRequest:
    return get_or_404(DataRequest, request_id)


def _resend_wait(found: DataRequest) -> int:
    rt = runtime()
    record = rt.db.session.get(Verification, found.id)
    if record is None or record.voided:
        return 0  # no usable code outstanding: no cool-down
    ready = record.last_sent_at + dt.timedelta(seconds=rt.settings.otp_resend_cooldown_seconds)
    return max(0, int((ready - utcnow()).total_seconds()) + 1) if ready > utcnow() else 0


def _code_state(found: DataRequest) -> str | None:
    """Why the code on file cannot be used, for the hint on the code page: void, expired, None."""
    rt = runtime()
    record = rt.db.session.get(Verification, found.id)
    if record is None:
        return None
    if record.voided or record.attempts >= rt.settings.otp_max_attempts:
        # After a sign-in the used code is void too; that is no news for the customer.
        return "void" if record.attempts >= rt.settings.otp_max_attempts else "used"
    if record.expires_at <= utcnow():
        return "expired"
    return None


@bp.route('/r/<uuid(missing="request"):request_id>/verify', methods=["GET", "POST"])
def verify(request_id: str):
    """Enter the one-time code: the first verification, or signing in again later.

    A POST always answers with a redirect (post/redirect/get): reloading the page after a wrong
    code shows the message again and never spends another attempt.
    """
    rt = runtime()
    found = _request_or_404(request_id)
    pending = found.status == "pending_verification"
    if request.method == "POST":
        code = request.form.get("code", "").strip()
        signed = operations.verify(rt.db.session, rt, request_id, code)
        if signed.request is not None:
            signin.sign_in(service.token_subject(signed.request), request_id)
            return redirect(url_for("portal.status", request_id=request_id), code=303)
        result = signed.result
        session["verify_error"] = {
            "rid": request_id,
            "outcome": result.outcome,
            "left": result.attempts_left,
        }
        return redirect(url_for("portal.verify", request_id=request_id), code=303)
    signed_in = signin.current_subject()
    if not pending and signed_in and behalf.may_read(signed_in, found):
        return redirect(url_for("portal.status", request_id=request_id), code=303)
    unusable = {
        verification.EXPIRED: _("验证码已过期，请重新发送。"),
        verification.VOID: _("错误次数过多，请重新发送验证码。"),
    }
    error = None
    shown = session.pop("verify_error", None)
    if isinstance(shown, dict) and shown.get("rid") == request_id:
        error = unusable.get(shown.get("outcome")) or _(
            "验证码不正确，还可尝试次数： %(left)s", left=shown.get("left")
        )
    state = _code_state(found)
    hint = unusable.get(state)  # "used" (after a sign-in) is no news for the customer
    flash = session.pop("portal_flash", None)
    return _render(
        "portal/verify.html",
        request_id=request_id,
        error=error or hint,
        flash=labels.FLASH.get(flash),
        wait=_resend_wait(found),
        again=not pending,
        for_someone=found.on_behalf is not None,
        code_usable=state is None,
        page_title=_("输入验证码"),
    )


@bp.post('/r/<uuid(missing="request"):request_id>/resend')
def resend(request_id: str):
    """Ask for a new code (cool-down, send limit, per-IP limit); then back to the code page."""
    rt = runtime()
    found = _request_or_404(request_id)
    try:
        service.resend_code(rt.db.session, rt, found.id)
        rt.db.session.commit()
        session["portal_flash"] = "resent"
    except Problem as exc:
        rt.db.session.rollback()
        if exc.slug == "rate-limited" or exc.status > 429:
            raise
        if exc.slug == "code-limit-reached":
            session["portal_flash"] = "limit"
    # Post/redirect/get: the language switch and a reload land on the code page, not this POST.
    return redirect(url_for("portal.verify", request_id=request_id), code=303)


def _owned(request_id: str) -> DataRequest:
    """The request, if this browser is signed in as its customer.

    Otherwise a page that offers to sign in again (a new code to the request's contact).
    """
    found = get_or_404(DataRequest, request_id)
    subject_id = signin.current_subject()
    if subject_id is None or not behalf.may_read(subject_id, found):
        if found.status == "pending_verification":
            abort(redirect(url_for("portal.verify", request_id=request_id), code=303))
        abort(
            _render(
                "portal/signin.html",
                401,
                request_id=request_id,
                page_title=_("重新登录"),
            )
        )
    return found


@bp.get('/r/<uuid(missing="request"):request_id>')
def status(request_id: str):
    """Where the request stands: status, deadline, reasons, receipt, download, cancel."""
    found = _owned(request_id)
    flash = session.pop("portal_flash", None)
    return _status_page(found, flash=labels.FLASH.get(flash))


def _status_page(found: DataRequest, status: int = 200, **extra):
    rt = runtime()
    view = service.status_view(found, rt)
    return _render(
        "portal/status.html",
        status,
        r=view,
        changes=correction_changes(rt.db.session, rt.policies, found, current_language()),
        evidence_kinds=behalf.EVIDENCE_KINDS,
        progress_text=view["progress"] and progress_text(view["progress"]),
        page_title=_("请求进度"),
        **extra,
    )


@bp.post('/r/<uuid(missing="request"):request_id>/evidence')
def evidence(request_id: str):
    """The requester of a request on someone else's behalf uploads a document (sealed)."""
    rt = runtime()
    found = _owned(request_id)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise Problem("No file.", status=422)
        behalf.add_evidence(
            rt.db.session,
            found,
            kind=request.form.get("kind", ""),
            filename=upload.filename,
            content=upload.read(behalf.MAX_BYTES + 1),
            actor="requester",
        )
        rt.db.session.commit()
    except Problem as exc:
        rt.db.session.rollback()
        if exc.status != 422:
            return _status_page(found, exc.status, upload_error=exc.detail)
        return _status_page(
            found, 422, upload_error=_("请选择材料类型，并上传 5 MB 以内的 PDF、PNG 或 JPEG 文件。")
        )
    session["portal_flash"] = "uploaded"
    return redirect(url_for("portal.status", request_id=request_id), code=303)


@bp.get('/r/<uuid(missing="request"):request_id>/progress')
def progress(request_id: str):
    """The export's progress as JSON: the status page polls it while the export builds."""
    found = _owned(request_id)
    view = service.status_view(found, runtime())["progress"]
    if view is None:
        return jsonify({"state": None})
    return jsonify({**view, "text": progress_text(view)})


@bp.route('/r/<uuid(missing="request"):request_id>/cancel', methods=["GET", "POST"])
def cancel(request_id: str):
    """Cancel while allowed (e.g. during the cooling-off), after a confirmation page."""
    rt = runtime()
    found = _owned(request_id)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return _render(
            "portal/cancel.html",
            r=service.status_view(found, rt),
            page_title=_("确认撤销"),
        )
    try:
        service.cancel(rt.db.session, found)
        rt.db.session.commit()
    except Problem:
        rt.db.session.rollback()
    return redirect(url_for("portal.status", request_id=request_id), code=303)


@bp.get('/r/<uuid(missing="request"):request_id>/download')
def download(request_id: str):
    """The export ZIP (counts against the download limit)."""
    rt = runtime()
    found = _owned(request_id)
    try:
        chunks, size = deliver(rt.db.session, found, rt.storage, rt.vault)
    except Problem as exc:
        if exc.status == 409:
            message = _("副本尚未生成，请稍后刷新。")
        else:
            message = _("下载次数已用完或已过期。如需新的副本，请提交新的请求。")
        return _render(
            "portal/message.html",
            exc.status,
            message=message,
            back=url_for("portal.status", request_id=request_id),
        )
    return zip_download(found.id, chunks, size)


@bp.get("/lang/<code>")
def language(code: str):
    """Switch language and go back."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(same_site_path(request.args.get("next")))


@bp.errorhandler(403)
def _forbidden(_exc):
    return _render(
        "portal/message.html", 403, message=_("请在提交请求的浏览器中打开此页面，或重新提交请求。")
    )


@bp.errorhandler(404)
def _missing(_exc):
    return _render(
        "portal/message.html", 404, message=_("请在提交请求的浏览器中打开此页面，或重新提交请求。")
    )


@bp.errorhandler(CSRFError)
@bp.errorhandler(400)
def _bad_form(_exc):
    # A form without this session's CSRF token (Flask-WTF), typically open since before the
    # session ended; a browser sends no other malformed form than a tampered one: same page.
    return _render("portal/message.html", 400, message=_("页面已过期，请刷新后重试。"))


@bp.errorhandler(429)
def _too_many(exc):
    # Flask-Limiter's per-IP limits as a page; the limiter adds Retry-After to the response.
    return _render("portal/message.html", 429, message=_("操作过于频繁，请稍后再试。"))


@bp.errorhandler(Problem)
def _problem(exc: Problem):
    # The same problems as the API (budgets, outages), as a page.
    message = _("操作过于频繁，请稍后再试。") if exc.status == 429 else exc.detail
    response = _render("portal/message.html", exc.status, message=message)
    for key, value in exc.headers.items():
        if key == "Retry-After":
            response.headers[key] = value
    return response
