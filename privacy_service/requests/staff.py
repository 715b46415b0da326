"""What the privacy team decides on a request: approve, or refuse with reasons (PIPL Art. 50).

Used by the CLI today and the dashboard later; the caller commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from privacy_service.errors import Conflict, Unprocessable
from privacy_service.requests import corrections, lifecycle
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.scope import for_request


def approve(session: Session, collector, request: DataRequest, *, actor: str) -> None:
    """Approve a request awaiting review.

    A correction is written to the sources at once and completes when every source took it
    (a source that failed is retried by the worker); a deletion goes to the worker.
    """
    if request.status != lifecycle.AWAITING_REVIEW:
        raise Conflict(
            f"Only a request awaiting review can be approved, not '{request.status}'.",
            slug="not-awaiting-review",
        )
    lifecycle.transition(
        session, request, lifecycle.IN_PROGRESS, actor=actor, details={"decision": "approved"}
    )
    if request.type == "correction":
        subject = for_request(session, request)
        corrections.carry_out(session, collector, request, subject, actor=actor, first=True)


def refuse(
    session: Session, request: DataRequest, *, actor: str, zh: str, en: str, code: str = "refused"
) -> None:
    """Refuse with a reason in both languages, shown to the customer."""
    if not zh.strip() or not en.strip():
        raise Unprocessable(errors={"reason": ["A refusal needs a reason in Chinese and English."]})
    lifecycle.transition(
        session,
        request,
        lifecycle.REJECTED,
        actor=actor,
        reasons=[{"code": code, "zh-CN": zh.strip(), "en": en.strip()}],
        details={"decision": "refused", "reason_code": code},
    )
