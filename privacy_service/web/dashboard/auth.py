"""Who may use the staff's pages: sign-in (password, authenticator code), sessions, roles.

Every page but the sign-in page needs a live server-side session (``team.sessions``) of an
enabled member; ``roles`` narrows a view to some roles (403 for the others). Accounts, the
password and second-factor checks and lockouts are decided in ``team/accounts.py``.
"""

from __future__ import annotations

import functools

from flask import abort, g, redirect, request, session, url_for

from privacy_service.team import sessions
from privacy_service.team.accounts import authenticate
from privacy_service.web.context import runtime
from privacy_service.web.dashboard.common import bp, render
from privacy_service.web.forms import same_site_path

LOGIN_FAILED = (
    "邮箱、密码或验证码不正确，或账户已暂时锁定。 "
    "Wrong email, password or code, or the account is locked for a while."
)


@bp.before_request
def _signed_in():
    if request.endpoint in ("dashboard.login", "dashboard.static"):
        return None
    # The cookie holds a session id; the database says whether that session is still alive.
    g.staff = sessions.resume(runtime().db.session, session.get("staff_sid"))
    if g.staff is None or g.staff.disabled_at is not None:
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


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in (email, password, and the authenticator code when enrolled)."""
    error, email = None, ""
    if request.method == "POST":
        rt = runtime()
        email = request.form.get("email", "")[:254]
        user = authenticate(
            rt.db.session,
            email,
            request.form.get("password", ""),
            request.form.get("code") or None,
        )
        rt.db.session.commit()
        if user is not None and user.disabled_at is None:
            session.clear()  # a fresh session at sign-in (no fixation)
            session["staff_sid"] = sessions.start(rt.db.session, user)
            rt.db.session.commit()
            target = same_site_path(request.args.get("next"), "")
            return redirect(
                target if target.startswith("/staff/") else url_for("dashboard.overview")
            )
        error = LOGIN_FAILED
    return render("dashboard/login.html", 401 if error else 200, error=error, email=email)


@bp.post("/logout")
def logout():
    """Sign out: the server-side session ends, so a saved cookie opens nothing."""
    rt = runtime()
    sessions.end(rt.db.session, session.get("staff_sid"))
    rt.db.session.commit()
    session.clear()
    return redirect(url_for("dashboard.login"))
