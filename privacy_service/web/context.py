"""The running app's collaborators, as views and the CLI reach them inside an app context."""

from __future__ import annotations

from typing import TypeVar

from flask import abort, current_app, has_request_context, request

from privacy_service.budgets import Budgets
from privacy_service.runtime import Runtime

T = TypeVar("T")


def runtime() -> Runtime:
    """The current app's runtime (inside an app context)."""
    return current_app.extensions["privacy"]


def budget_caller() -> tuple[Budgets, str] | None:
    """The budgets and client address of the request being served (None outside a request)."""
    if not has_request_context():
        return None
    budgets = current_app.extensions.get("privacy.budgets")
    if budgets is None:
        return None
    return budgets, request.remote_addr or "unknown"


def get_or_404(model: type[T], row_id: str) -> T:
    """The row of ``model`` with this id, or a 404.

    The id comes from a ``<uuid:…>`` path segment (``web/converters.py``): a malformed one never
    reaches this (nor the database) and answers like a missing row.
    """
    found = runtime().db.session.get(model, row_id)
    if found is None:
        abort(404)
    return found
