"""What the server-rendered pages share: the CSRF token and the security headers."""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import urlsplit

from flask import Response, abort, request, session, stream_with_context

CSP = (
    # Scripts and styles only from our own files: no inline script, handler, style or eval;
    # scripts may fetch from this site only (the request page polls its progress).
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
)


# The API docs page (Swagger UI, served from the installed package): it fetches the OpenAPI
# document and sets styles from script (allowed: CSSOM, not style attributes in markup).
API_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)

_DIGITS = re.compile(r"[0-9]{1,18}")


def int_arg(value: str | None, *, default: int, low: int, high: int) -> int:
    """A whole number from a form or query string, clamped to ``low..high``.

    Anything but ASCII digits gives ``default`` (``str.isdigit`` also accepts "²", which
    ``int`` refuses); a number too large to matter is clamped rather than overflowing dates or
    SQL integers.
    """
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit():
        return default
    if not _DIGITS.fullmatch(text):
        return high
    return min(high, max(low, int(text)))


def same_site_path(target: str | None, default: str = "/") -> str:
    r"""``target`` when it is a path on this site, otherwise ``default``.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    ``/\t/evil.example/`` and ``/\evil.example`` would leave the site; refuse them, and
    anything with a scheme or a host.
    """
    text = target or ""
    if (
        not text.startswith("/")
        or text.startswith("//")
        or "\\" in text
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text)
    ):
        return default
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return default
    return text


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
