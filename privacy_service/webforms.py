"""What the server-rendered pages share: the CSRF token and the security headers."""

from __future__ import annotations

import hmac
import secrets

from flask import Response, abort, request, session, stream_with_context

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
    "form-action 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
)


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse a POST whose form does not carry this session's token (400)."""
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent.encode(), session.get("csrf", "").encode()):
            abort(400, description="The form expired; reload the page and try again.")


def zip_download(request_id: str, chunks, size: int) -> Response:
    """A streamed export ZIP as an attachment, never cached."""
    response = Response(stream_with_context(chunks), mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="personal-data-{request_id}.zip"'
    )
    response.headers["Content-Length"] = str(size)
    response.headers["Cache-Control"] = "no-store"
    return response


def html(body: str, status: int = 200) -> Response:
    """An HTML response with the pages' security headers."""
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
