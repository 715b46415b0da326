"""What the server-rendered pages share: CSRF protection and the security headers.

CSRF is Flask-WTF's ``CSRFProtect`` (``install_csrf``): every POST of a page must carry the
session's token in the form field ``csrf`` (templates write ``{{ csrf_token() }}``); the JSON API
is exempt (it is authenticated by a bearer token or a service header, never by a cookie). A
refused form raises ``flask_wtf.csrf.CSRFError`` (a 400), which the portal and the dashboard
answer with their own "the form expired" page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, stream_with_context
from flask_wtf.csrf import CSRFProtect

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


csrf = CSRFProtect()


def install_csrf(app: Flask, *, exempt: Iterable[Blueprint]) -> None:
    """Check the CSRF token of every POST/PUT/PATCH/DELETE, except in the ``exempt`` blueprints.

    Installed after the rate limits, so that a flood is refused by the limiter first, as before.
    """
    app.config.update(
        # The field's name since before Flask-WTF: browsers' open forms and scripts post it.
        WTF_CSRF_FIELD_NAME="csrf",
        # Valid as long as the session cookie (a browser-session cookie, renewed by sign-in),
        # as before: a staff member or customer who leaves a form open for an hour must not lose
        # it. What the token guards has its own limits (staff idle timeout, portal sign-in).
        WTF_CSRF_TIME_LIMIT=None,
        # The pages send "Referrer-Policy: no-referrer", so a browser posts without Referer;
        # the strict HTTPS Referer check would refuse every form. The token and the SameSite
        # session cookie are the protection.
        WTF_CSRF_SSL_STRICT=False,
    )
    for blueprint in exempt:
        csrf.exempt(blueprint)

    @app.before_request
    def _fresh_token() -> None:
        # Flask-WTF keeps the request's token on ``g`` (under the field's name). A caller that
        # holds one app context across requests (tests, scripts) shares ``g`` between them, and
        # would be handed the token of an earlier session (the sign-in starts a new one).
        g.pop(app.config["WTF_CSRF_FIELD_NAME"], None)

    csrf.init_app(app)


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
