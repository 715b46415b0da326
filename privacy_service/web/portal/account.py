"""The customer page around requests: "my requests", the favicon and the HTML 404 page.

Routes live on the portal blueprint (``views.bp``); importing this module registers them.
"""

from __future__ import annotations

from flask import redirect, request, send_from_directory, session, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from privacy_service.policies.datamap_schema import CHOICES
from privacy_service.requests import service
from privacy_service.subjects import choices
from privacy_service.subjects.models import Subject
from privacy_service.web.context import runtime
from privacy_service.web.converters import UnknownId
from privacy_service.web.errors import from_http_exception
from privacy_service.web.portal import signin
from privacy_service.web.portal.labels import FLASH
from privacy_service.web.portal.views import _missing, _render, bp


def _sign_in_first(page_title: str):
    """The 401 page of a view that needs a signed-in customer."""
    return _render(
        "portal/message.html",
        401,
        message=_("请先打开您的任意一个请求并用验证码登录，然后即可在这里看到全部请求。"),
        page_title=page_title,
    )


@bp.get("/mine")
def mine():
    """Every request of the signed-in customer with its status (sign in through any of them)."""
    subject_id = signin.current_subject()
    if subject_id is None:
        return _sign_in_first(_("我的请求"))
    rt = runtime()
    views = [
        service.status_view(r, rt) for r in service.list_for_subject(rt.db.session, subject_id)
    ]
    return _render("portal/mine.html", requests=views, page_title=_("我的请求"))


@bp.route("/choices", methods=["GET", "POST"])
def privacy_choices():
    """Marketing e-mail, SMS and personalised ads: switched at once, no review."""
    subject_id = signin.current_subject()
    if subject_id is None:
        return _sign_in_first(_("隐私选择"))
    rt = runtime()
    subject = rt.db.session.get(Subject, subject_id)
    if subject is None:
        # Signed in as the requester of a request made for someone else: not the holder.
        return _render(
            "portal/message.html",
            403,
            message=_("隐私选择只能由账户持有人本人设置。"),
            page_title=_("隐私选择"),
        )
    collector = rt.collector()
    if request.method == "POST":
        if request.form.get("all") == "off":
            wanted = dict.fromkeys(CHOICES, False)
        else:
            wanted = {c: request.form.get(c) == "on" for c in CHOICES}
        choices.change(collector, rt.db.session, subject, wanted, actor="customer")
        rt.db.session.commit()
        session["portal_flash"] = "choices_saved"
        return redirect(url_for("portal.privacy_choices"), code=303)
    flash = session.pop("portal_flash", None)
    return _render(
        "portal/choices.html",
        choices=choices.current(collector, subject),
        flash=FLASH.get(flash),
        page_title=_("隐私选择"),
    )


@bp.post("/sign-out")
def sign_out():
    """End this browser's sign-in."""
    signin.sign_out()
    return redirect(url_for("portal.index"), code=303)


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for at the root."""
    return send_from_directory(
        bp.static_folder, "favicon.ico", mimetype="image/x-icon", max_age=86400
    )


@bp.app_errorhandler(NotFound)
def _not_found(exc: NotFound):
    # A person in a browser gets a page; the API and programs keep problem+json.
    if isinstance(exc, UnknownId) and request.path.startswith("/r/"):
        return _missing(exc)  # /r/<not a UUID>/…: like a request nobody has
    accept = request.accept_mimetypes
    wants_html = accept["text/html"] > accept["application/json"]
    if request.path.startswith(("/api/", "/staff/")) or not wants_html:
        return from_http_exception(exc)
    return _render(
        "portal/message.html",
        404,
        message=_("找不到此页面。请检查网址，或从首页重新开始。"),
        page_title=_("找不到页面"),
    )
