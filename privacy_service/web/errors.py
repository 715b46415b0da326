"""RFC 9457 problem details (or pages) for every error the service returns.

Core exceptions (``privacy_service.errors.Problem``) and Flask, werkzeug and webargs errors are
converted here, so no client ever sees anything but ``application/problem+json`` (or, on the
site's pages, a small HTML page).
"""

from __future__ import annotations

import html as html_escape
import logging
from typing import Any

from flask import Flask, Response, json, request
from sqlalchemy.exc import DisconnectionError, OperationalError, TimeoutError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from privacy_service.errors import PROBLEM_BASE, Problem, error_fields
from privacy_service.web.forms import html

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

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


def from_http_exception(exc: HTTPException) -> Response:
    """A werkzeug or webargs HTTP error as problem details, with field errors flattened."""
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
        return from_http_exception(exc)

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
