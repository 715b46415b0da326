"""The customer's "request my data" pages: submit, verify, follow, download, cancel.

Server-rendered, Chinese first, no external resources. Every form carries a CSRF token kept in
the (signed, HttpOnly) session; submissions and code resends are rate-limited per IP and per
contact. The pages call the same services as the API; the bearer token a verification yields is
kept in the session, never in a URL.
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
from marshmallow import ValidationError

from privacy_service.db import is_uuid, utcnow
from privacy_service.errors import Problem
from privacy_service.portal.i18n import LANGUAGES, progress_text, t
from privacy_service.requests import service, tokens, verification
from privacy_service.requests.models import DataRequest, Verification
from privacy_service.requests.schemas import RequestCreateSchema
from privacy_service.runtime import runtime
from privacy_service.webforms import (
    check_csrf,
    csrf_token,
    html,
    int_arg,
    same_site_path,
    zip_download,
)

bp = Blueprint("portal", __name__, template_folder="templates")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _lang() -> str:
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh-CN")
    return "en" if best == "en" else "zh-CN"


bp.before_request(check_csrf)


def _render(template: str, status: int = 200, **context):
    lang = _lang()
    body = render_template(
        template,
        lang=lang,
        t=lambda key: t(key, lang),
        csrf=csrf_token(),
        tz=SHANGHAI,
        categories=runtime().policies.categories,
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


@bp.get("/")
def index():
    """The request form."""
    return _render(
        "portal/index.html",
        form={"categories": []},
        errors={},
        correctable=_correctable_options(_lang()),
    )


def _form_data(form) -> dict:
    contact = form.get("contact", "").strip()
    data: dict = {"type": form.get("type", ""), "language": _lang()}
    data["email" if "@" in contact else "phone"] = contact
    if form.getlist("categories") and data["type"] in ("access", "deletion"):
        data["categories"] = form.getlist("categories")
    if data["type"] == "correction":
        category, _, field = form.get("field", "").partition(":")
        item = {"category": category, "field": field, "value": form.get("value", "")}
        record_id = int_arg(form.get("record_id"), default=-1, low=0, high=2**31 - 1)
        if record_id >= 0:
            item["record_id"] = record_id
        data["corrections"] = [item]
    if form.get("note", "").strip():
        data["note"] = form["note"].strip()
    return data


def _field_errors(messages: dict, lang: str) -> dict:
    errors = {}
    for name, message in messages.items():
        key = "contact" if name in ("email", "phone") else name
        text = {"contact": "bad_contact", "corrections": "bad_correction"}.get(key)
        errors[key] = (
            t(text, lang)
            if text
            else (message[0] if isinstance(message, list) else t("fix_errors", lang))
        )
    return errors


@bp.post("/")
def submit():
    """Submit a request; on success, on to the code page."""
    rt = runtime()
    lang = _lang()
    form = {**request.form, "categories": request.form.getlist("categories")}
    try:
        data = RequestCreateSchema().load(_form_data(request.form))
    except ValidationError as exc:
        return _render(
            "portal/index.html",
            422,
            form=form,
            errors=_field_errors(exc.messages, lang),
            correctable=_correctable_options(lang),
        )
    try:
        created, delivery = service.submit(rt.db.session, rt, data, language=lang)
    except Problem as exc:
        rt.db.session.rollback()
        if exc.status >= 429:  # a limit or an outage: the generic page says so
            raise
        return _render(
            "portal/index.html",
            422,
            form=form,
            errors=_field_errors(exc.errors or {"type": [exc.detail]}, lang),
            correctable=_correctable_options(lang),
        )
    rt.db.session.commit()
    service.deliver(rt, delivery)
    return redirect(url_for("portal.verify", request_id=created.id), code=303)


def _request_or_404(request_id: str) -> DataRequest:
    found = runtime().db.session.get(DataRequest, request_id) if is_uuid(request_id) else None
    if found is None:
        abort(404)
    return found


def _resend_wait(found: DataRequest) -> int:
    rt = runtime()
    record = rt.db.session.get(Verification, found.id)
    if record is None:
        return 0
    ready = record.last_sent_at + dt.timedelta(seconds=rt.settings.otp_resend_cooldown_seconds)
    return max(0, int((ready - utcnow()).total_seconds()) + 1) if ready > utcnow() else 0


@bp.route("/r/<request_id>/verify", methods=["GET", "POST"])
def verify(request_id: str):
    """Enter the one-time code."""
    rt = runtime()
    lang = _lang()
    found = _request_or_404(request_id)
    if found.status != "pending_verification":
        return redirect(url_for("portal.status", request_id=request_id), code=303)
    error = None
    if request.method == "POST":
        verified, result = service.verify(
            rt.db.session, rt, request_id, request.form.get("code", "")
        )
        if verified is not None and verified.type == "account_closure":
            from retention.processor import start_closure

            start_closure(rt.erasure_deps(), rt.db.session, verified)
        rt.db.session.commit()
        if verified is not None:
            token = tokens.issue(
                rt.token_secret,
                subject_id=verified.subject_id,
                request_id=verified.id,
                ttl_seconds=rt.settings.token_ttl_seconds,
            )
            session["tokens"] = {**session.get("tokens", {}), request_id: token}
            return redirect(url_for("portal.status", request_id=request_id), code=303)
        error = {
            verification.EXPIRED: t("expired_code", lang),
            verification.VOID: t("void_code", lang),
        }.get(result.outcome, f"{t('wrong_code', lang)} {result.attempts_left}")
    return _render(
        "portal/verify.html",
        400 if error else 200,
        request_id=request_id,
        error=error,
        wait=_resend_wait(found),
    )


@bp.post("/r/<request_id>/resend")
def resend(request_id: str):
    """Ask for a new code (cool-down, send limit, per-IP limit)."""
    rt = runtime()
    lang = _lang()
    found = _request_or_404(request_id)
    flash, error = None, None
    try:
        delivery = service.resend_code(rt.db.session, rt, found.id)
        rt.db.session.commit()
        service.deliver(rt, delivery)
        flash = t("resent", lang)
    except Problem as exc:
        rt.db.session.rollback()
        if exc.slug == "already-verified":
            return redirect(url_for("portal.status", request_id=request_id), code=303)
        if exc.slug == "rate-limited" or exc.status > 429:
            raise
        error = t("limit", lang) if exc.slug == "code-limit-reached" else None
    return _render(
        "portal/verify.html",
        request_id=request_id,
        error=error,
        flash=flash,
        wait=_resend_wait(found),
    )


def _owned(request_id: str) -> DataRequest:
    """The request, if this browser verified it; otherwise a page that says what to do."""
    rt = runtime()
    token = session.get("tokens", {}).get(request_id) if is_uuid(request_id) else None
    if not token:
        abort(403)
    try:
        subject_id = tokens.subject_of(rt.token_secret, f"Bearer {token}")
        return service.get_for_subject(rt.db.session, request_id, subject_id)
    except Problem:
        abort(403)


@bp.get("/r/<request_id>")
def status(request_id: str):
    """Where the request stands: status, deadline, reasons, receipt, download, cancel."""
    found = _owned(request_id)
    view = service.status_view(found, runtime())
    progress = view["progress"] and progress_text(view["progress"], _lang())
    return _render("portal/status.html", r=view, progress_text=progress)


@bp.get("/r/<request_id>/progress")
def progress(request_id: str):
    """The export's progress as JSON: the status page polls it while the export builds."""
    found = _owned(request_id)
    view = service.status_view(found, runtime())["progress"]
    if view is None:
        return jsonify({"state": None})
    return jsonify({**view, "text": progress_text(view, _lang())})


@bp.post("/r/<request_id>/cancel")
def cancel(request_id: str):
    """Cancel while allowed (e.g. during the cooling-off)."""
    rt = runtime()
    found = _owned(request_id)
    try:
        service.cancel(rt.db.session, found)
        rt.db.session.commit()
    except Problem:
        rt.db.session.rollback()
    return redirect(url_for("portal.status", request_id=request_id), code=303)


@bp.get("/r/<request_id>/download")
def download(request_id: str):
    """The export ZIP (counts against the download limit)."""
    from exports.delivery import download as deliver

    rt = runtime()
    found = _owned(request_id)
    try:
        chunks, size = deliver(rt.db.session, found, rt.storage, rt.vault)
    except Problem as exc:
        return _render("portal/message.html", exc.status, message=exc.detail)
    return zip_download(found.id, chunks, size)


@bp.get("/lang/<code>")
def language(code: str):
    """Switch language and go back."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(same_site_path(request.args.get("next")))


@bp.errorhandler(403)
def _forbidden(_exc):
    return _render("portal/message.html", 403, message=t("not_yours", _lang()))


@bp.errorhandler(404)
def _missing(_exc):
    return _render("portal/message.html", 404, message=t("not_yours", _lang()))


@bp.errorhandler(400)
def _bad_form(exc):
    return _render("portal/message.html", 400, message=exc.description)


@bp.errorhandler(429)
def _too_many(exc):
    # Flask-Limiter's per-IP limits as a page; the limiter adds Retry-After to the response.
    return _render("portal/message.html", 429, message=t("limit", _lang()))


@bp.errorhandler(Problem)
def _problem(exc: Problem):
    # The same problems as the API (budgets, outages), as a page.
    message = t("limit", _lang()) if exc.status == 429 else exc.detail
    response = _render("portal/message.html", exc.status, message=message)
    for key, value in exc.headers.items():
        if key == "Retry-After":
            response.headers[key] = value
    return response
