"""What every dashboard page shares: the blueprint, rendering, the request a page is about.

Views live in small modules (``views``, ``queue``, ``work``, ``auditlog``, ``reports``,
``admin``) that all register on this one blueprint; who may open them is ``auth``'s, the SQL
they read is ``queries``'.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from urllib.parse import urlencode
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
from flask_wtf.csrf import CSRFError

from privacy_service import audit
from privacy_service.calendar import receipt_day
from privacy_service.db import utcnow
from privacy_service.errors import Problem
from privacy_service.requests.models import DataRequest
from privacy_service.web.context import get_or_404, runtime
from privacy_service.web.dashboard import labels, page_queries
from privacy_service.web.errors import from_http_exception
from privacy_service.web.forms import html

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/staff",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
SHANGHAI = ZoneInfo("Asia/Shanghai")
FORM_EXPIRED = "表单已过期，请重新加载页面。 The form expired; reload the page and try again."


@bp.after_request
def _forget_counts(response):
    # A change made here shows in the queue's counts at once (they are cached between changes).
    if request.method == "POST" and request.endpoint != "dashboard.queue":  # not a search
        current_app.extensions.pop("privacy.queue_counts", None)
    return response


def render(template: str, status: int = 200, **context):
    """A dashboard page with the shared context (who is signed in, time zone).

    The forms' CSRF token is ``csrf_token()`` in the templates (Flask-WTF, ``web/forms.py``).
    """
    return html(
        render_template(
            template,
            me=getattr(g, "staff", None),
            tz=SHANGHAI,
            back=session.get("queue_back"),
            **context,
        ),
        status,
    )


def message(text: str, status: int = 200, **context):
    """A page holding one message (errors and confirmations alike), within the navigation."""
    return render("dashboard/message.html", status, message=text, **context)


@contextlib.contextmanager
def problem_as_message():
    """Run a change; a ``Problem`` it raises is rolled back and answered as a message page.

    The core refuses a change with a ``Problem`` (status and words for the team); the page
    shows them with that status. Any other error goes on to the error handlers (a 500, logged
    with its frames). The page leaves through ``abort``: the view's remaining steps do not run.
    """
    try:
        yield
    except Problem as exc:
        runtime().db.session.rollback()
        abort(message(exc.detail, exc.status))


def get_request(request_id: str) -> DataRequest:
    """The request with this id, or a 404 page."""
    return get_or_404(DataRequest, request_id)


def with_request(view):
    """The view takes the runtime and the request its path names (``<uuid:request_id>``).

    A request nobody has is the 404 page; the view states only what is its own.
    """

    @functools.wraps(view)
    def inner(request_id: str, **kwargs):
        return view(runtime(), get_request(request_id), **kwargs)

    return inner


def actor() -> str:
    """The audit actor of the signed-in member."""
    return f"staff:{g.staff.id}"


def audit_request(session, r: DataRequest, action: str, **kwargs) -> None:
    """An audit entry about request ``r`` by the signed-in member (``audit.record``'s fields)."""
    audit.record(session, action, actor=actor(), request_id=r.id, subject_id=r.subject_id, **kwargs)


def to_request(r: DataRequest):
    """Back to the request's page after a change (303: a reload does not post again)."""
    return redirect(url_for("dashboard.detail", request_id=r.id), code=303)


def today() -> dt.date:
    """Today in the policy's time zone."""
    return receipt_day(utcnow())


def staff_names() -> dict[str, str]:
    """Staff id -> e-mail, once per page (a small table)."""
    if "staff_names" not in g:
        g.staff_names = page_queries.staff_emails(runtime().db.session)
    return g.staff_names


def _names() -> dict[str, str]:
    return staff_names() if g else {}


# The labels as template filters (labels.py holds the words; the filters need the page's staff).
bp.add_app_template_filter(labels.status, "status_label")
bp.add_app_template_filter(labels.request_type, "type_label")
bp.add_app_template_filter(labels.relationship, "relationship_label")
bp.add_app_template_filter(labels.action, "action_label")
bp.add_app_template_filter(labels.role, "role_label")
bp.add_app_template_filter(labels.channel, "channel_label")
bp.add_app_template_filter(labels.short_id, "short_id")
bp.add_app_template_filter(lambda code: labels.actor(code, _names()), "actor_name")
bp.add_app_template_filter(lambda d: labels.details(d, _names()), "details_text")
bp.add_app_template_filter(lambda sid: _names().get(sid, "—") if sid else "—", "staff_name")


def query_string(args: dict, **changes) -> str:
    """``args`` with ``changes`` applied, as a query string (None removes a key)."""
    merged = {**args, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


@bp.errorhandler(CSRFError)
def _form_expired(_exc):
    # A form without this session's token (Flask-WTF's reason is for the log, not the page).
    return message(FORM_EXPIRED, 400)


@bp.errorhandler(400)
def _bad_request(exc):
    return message(
        getattr(exc, "description", None) or FORM_EXPIRED,
        400,
    )


@bp.errorhandler(403)
def _forbidden(_exc):
    return message("您的角色不能执行此操作。 Your role cannot do this.", 403)


@bp.errorhandler(404)
def _not_found(_exc):
    return message("找不到此页面或请求。 No such page or request.", 404)


@bp.app_errorhandler(405)
def _method_not_allowed(exc):
    # Routing errors reach app-wide handlers only: the staff's pages answer them in HTML, the
    # API keeps its problem JSON.
    if request.path.startswith("/staff/"):
        return message("此页面不能这样打开。 This page cannot be opened this way.", 405)
    return from_http_exception(exc)


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def unknown_page(_rest: str):
    """Any other address under /staff/: a page saying so, within the navigation.

    This also answers a path whose id is no UUID (``<uuid:…>`` does not match it): the same
    page as for a request nobody has.
    """
    abort(404)
