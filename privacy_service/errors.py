"""The service's errors: plain exceptions with a stable ``type`` slug, a status and a detail.

Domain code raises ``Problem`` (or a subclass) and imports no web framework; the web layer
(``privacy_service.web.errors``) turns them into RFC 9457 problem details or pages.
"""

from __future__ import annotations

import traceback
from typing import Any

from sqlalchemy.exc import OperationalError

PROBLEM_BASE = "https://privacy-service.example/problems/"


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
