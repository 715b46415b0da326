"""RFC 9457 problem details for every error the service returns.

Domain code raises ``Problem`` (or a subclass); Flask, werkzeug and webargs errors are converted
here too, so no client ever sees anything but ``application/problem+json``.
"""

from __future__ import annotations

import html as html_escape
import logging
import traceback
from typing import Any

from flask import Flask, Response, json, request
from sqlalchemy.exc import DisconnectionError, OperationalError, TimeoutError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://privacy-service.example/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error with a stable ``type`` slug, an HTTP status, a title and a detail."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str = "",
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        errors: Any = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or (title or self.title)
        self.status = status or self.status
        self.slug = slug or self.slug
        self.title = title or self.title
        self.errors = errors
        self.headers = headers or {}


class NotFound(Problem):
    """The resource does not exist, or the caller may not know it does."""

    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    """The request is not allowed in the resource's current state."""

    status, slug, title = 409, "conflict", "Conflict"


class Gone(Problem):
    """The resource existed but is no longer available (expired, used up)."""

    status, slug, title = 410, "gone", "No longer available"


class Unauthorized(Problem):
    """Missing or invalid credentials."""

    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str = "", **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="privacy"'})
        super().__init__(detail, **kwargs)


class Forbidden(Problem):
    """Authenticated, but not allowed."""

    status, slug, title = 403, "forbidden", "Forbidden"


class Unprocessable(Problem):
    """The body is well-formed but its values are not acceptable."""

    status, slug, title = 422, "validation-error", "Invalid request"


class TooManyRequests(Problem):
    """A rate limit or cool-down applies."""

    status, slug, title = 429, "too-many-requests", "Too many requests"


# Paths whose clients are programs: they get problem+json even for errors outside a view.
MACHINE_PATHS = ("/api/", "/healthz", "/readyz")
# Where the pages live: errors there are pages even when no route matched.
PAGE_PATHS = ("/r/", "/staff", "/lang/")


def _wants_page() -> bool:
    """True for the site's pages and for browsers; programs get problem+json.

    Errors inside the customer's and the staff pages (or under their paths) are pages.
    Elsewhere (an unknown path, a wrong method) the client decides: a browser asks for
    ``text/html`` by name, programs and ``*/*`` get problem+json.
    """
    try:
        path = request.path
    except RuntimeError:  # no request context
        return False
    if path.startswith(MACHINE_PATHS):
        return False
    if request.blueprint in ("portal", "dashboard") or path.startswith(PAGE_PATHS) or path == "/":
        return True
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


def page_response(status: int, title: str, detail: str, headers=None) -> Response:
    """A small, self-contained HTML error page (no template: it must render in any state)."""
    from privacy_service.web.forms import html

    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{status} {html_escape.escape(title)}</title></head><body><main>"
        f"<h1>{html_escape.escape(title)}</h1><p>{html_escape.escape(detail)}</p>"
        '<p><a href="/">返回首页 Back to the start page</a></p></main></body></html>'
    )
    response = html(body, status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build an ``application/problem+json`` response (an HTML page for the site's pages)."""
    if _wants_page():
        return page_response(status, title, detail, headers)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
}


def _from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    errors = data.get("messages")
    if isinstance(errors, dict) and set(errors) <= {"json", "query", "headers", "path", "form"}:
        # webargs nests field errors under the location; clients want the fields.
        merged: dict[str, Any] = {}
        for location_errors in errors.values():
            if isinstance(location_errors, dict):
                merged.update(location_errors)
        errors = merged or errors
    detail = exc.description or exc.name
    if status == 422:
        detail = "The request body has invalid or unknown fields; see errors."
    elif status == 400 and errors:
        detail = "The request body is not valid JSON in UTF-8."
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return problem_response(
        status, _HTTP_SLUGS.get(status, "http-error"), exc.name, detail, errors, headers
    )


def register_error_handlers(app: Flask) -> None:
    """Render every error as problem JSON; log unexpected ones without request data."""

    @app.errorhandler(Problem)
    def _problem(exc: Problem):
        return problem_response(
            exc.status, exc.slug, exc.title, exc.detail, exc.errors, exc.headers
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _from_http_exception(exc)

    @app.errorhandler(StaleDataError)
    def _stale(_exc: StaleDataError):
        # Optimistic locking: someone else changed the request between our read and our write.
        return problem_response(
            409,
            "concurrent-update",
            "Changed by someone else",
            "The request was changed at the same time; reload it and try again.",
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(SAInterfaceError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(TimeoutError)
    def _database_down(exc: Exception):
        # The database (or its pool) is unreachable: an outage to retry, not a bug. Operational
        # errors also cover a few failures of a working database; the frames tell them apart.
        log.error("database unavailable", extra=error_fields(exc))
        return problem_response(
            503,
            "database-unavailable",
            "Service unavailable",
            "The database cannot be reached; try again in a minute.",
            headers={"Retry-After": "30"},
        )

    @app.errorhandler(RecursionError)
    def _too_deep(_exc: RecursionError):
        return problem_response(
            400, "bad-request", "Bad request", "The input is nested too deeply."
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.error("unhandled error", extra=error_fields(exc))
        return problem_response(
            500, "internal-error", "Internal error", "The service could not complete the request."
        )


def error_fields(exc: BaseException) -> dict[str, Any]:
    """Where an error happened, for the log: its type and frames (file, line, function).

    Never the message, the source line or local values: those can carry personal data.
    """
    frames = [
        f"{frame.filename}:{frame.lineno}:{frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    ]
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    fields: dict[str, Any] = {"error_type": type(exc).__name__, "frames": frames[-12:]}
    if cause is not None:
        fields["cause_type"] = type(cause).__name__
        if getattr(cause, "sqlstate", None):
            fields["sqlstate"] = cause.sqlstate
    if isinstance(exc, OperationalError) and exc.statement is None and cause is not None:
        # Failing to connect (no statement, so no parameters): the driver's reason is safe
        # and is what the operator needs ("connection refused", "password authentication").
        fields["cause"] = " ".join(str(cause).split())[:300]
    return fields
