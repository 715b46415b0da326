"""Guards on API request bodies, applied before any view parses them.

Python's JSON parser recurses once per nesting level: a body of 30,000 ``[`` would end in a
``RecursionError`` (a 500). No request of this API nests deeper than a few levels, so bodies
deeper than ``MAX_DEPTH`` are refused with a 400 problem before they are parsed.
"""

from __future__ import annotations

import re

from flask import request

from privacy_service.errors import Problem

MAX_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (strings skipped)."""
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", body))
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


# Uploads: evidence for a request on someone's behalf (API and customer page) is a file sent as
# multipart, with its own size limit (bytes); every other body keeps max_content_length.
UPLOAD_PATH = re.compile(r"^(/api/v1/requests|/r)/[^/]+/evidence$")
UPLOAD_LIMIT = 5 * 1024 * 1024 + 64 * 1024


def is_upload() -> bool:
    """True for a document upload (multipart, larger than other bodies)."""
    return request.method == "POST" and bool(UPLOAD_PATH.match(request.path))


def check_no_nul() -> None:
    """Refuse a NUL character in a query string or form (400).

    No field of this service takes one, PostgreSQL cannot store or compare one in text (its
    driver raises), and it has no use but to confuse whatever reads the value next.
    """
    if is_upload():
        # Set before anything reads the body (this is the first check to run).
        request.max_content_length = UPLOAD_LIMIT
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    texts = [
        text for source in sources for key, values in source.lists() for text in (key, *values)
    ]
    if any("\x00" in text for text in texts):
        raise Problem(
            "The request contains a NUL character.",
            status=400,
            slug="bad-request",
            title="Bad request",
        )


def check_api_body() -> None:
    """Refuse non-JSON bodies (415) and JSON nested too deeply (400) on ``/api/``."""
    if not request.path.startswith("/api/") or request.method not in ("POST", "PUT", "PATCH"):
        return
    if is_upload() and request.mimetype == "multipart/form-data":
        return
    if request.content_length and not request.is_json:
        # A form or text body would otherwise be read as "no fields": say what is wrong instead.
        raise Problem(
            "Send the body as application/json.",
            status=415,
            slug="unsupported-media-type",
            title="Unsupported media type",
        )
    if request.is_json and json_depth(request.get_data(cache=True)) > MAX_DEPTH:
        raise Problem(
            f"The JSON body is nested more than {MAX_DEPTH} levels deep.",
            status=400,
            slug="bad-request",
            title="Bad request",
        )
