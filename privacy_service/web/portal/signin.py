"""The customer page's sign-in: one verified customer per browser session.

Entering a right code (first verification or signing in again) signs the browser in as the
request's customer. The sign-in is a bearer token kept in the signed, HttpOnly session cookie,
never in a URL. Each page renews it for ``token_ttl_seconds`` (so it lasts while the page is
used), and it ends ``portal_session_max_seconds`` after the code was entered, however active.
"""

from __future__ import annotations

import time

from flask import session

from privacy_service.errors import Problem
from privacy_service.requests import tokens
from privacy_service.web.context import runtime

KEY = "signin"


def sign_in(subject_id: str, request_id: str) -> None:
    """Sign this browser in as ``subject_id`` (after a right code for ``request_id``)."""
    session.pop("tokens", None)  # the per-request tokens of earlier versions
    session[KEY] = {"since": int(time.time()), "rid": request_id}
    _renew(subject_id)


def sign_out() -> None:
    """End the sign-in."""
    session.pop(KEY, None)


def current_subject() -> str | None:
    """The signed-in customer's subject id (renewing the sign-in), or None."""
    rt = runtime()
    state = session.get(KEY)
    if not isinstance(state, dict) or "token" not in state:
        return None
    if time.time() - state.get("since", 0) >= rt.settings.portal_session_max_seconds:
        sign_out()
        return None
    try:
        subject_id = tokens.subject_of(rt.token_secret, f"Bearer {state['token']}")
    except Problem:
        sign_out()
        return None
    _renew(subject_id)
    return subject_id


def _renew(subject_id: str) -> None:
    rt = runtime()
    state = dict(session[KEY])
    left = state["since"] + rt.settings.portal_session_max_seconds - int(time.time())
    state["token"] = tokens.issue(
        rt.token_secret,
        subject_id=subject_id,
        request_id=state["rid"],
        ttl_seconds=max(1, min(rt.settings.token_ttl_seconds, left)),
    )
    session[KEY] = state
