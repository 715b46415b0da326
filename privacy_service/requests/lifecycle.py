"""The request state machine: the only place that changes a request's status."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.db import utcnow
from privacy_service.errors import Conflict
from privacy_service.notices.outcomes import on_transition
from privacy_service.requests.models import DataRequest


class Status(StrEnum):
    """Where a request stands; stored and shown as its value (``"pending_verification"``)."""

    PENDING_VERIFICATION = "pending_verification"
    VERIFIED = "verified"
    AWAITING_REVIEW = "awaiting_review"
    IN_PROGRESS = "in_progress"
    COOLING_OFF = "cooling_off"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# The members under their short names, as the rest of the code uses them.
(
    PENDING_VERIFICATION,
    VERIFIED,
    AWAITING_REVIEW,
    IN_PROGRESS,
    COOLING_OFF,
    COMPLETED,
    REJECTED,
    CANCELLED,
) = Status
STATUSES = tuple(Status)
TERMINAL = frozenset({COMPLETED, REJECTED, CANCELLED})

# Allowed moves. A request is rejected when staff refuse it (with reasons) or when it is never
# verified; it is cancelled only by the customer (or for them by customer service).
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING_VERIFICATION: frozenset({VERIFIED, REJECTED, CANCELLED}),
    VERIFIED: frozenset({AWAITING_REVIEW, IN_PROGRESS, COOLING_OFF, REJECTED, CANCELLED}),
    AWAITING_REVIEW: frozenset({IN_PROGRESS, REJECTED, CANCELLED}),
    IN_PROGRESS: frozenset({COMPLETED, REJECTED, COOLING_OFF}),
    # Rejected when the blockers, checked again as the cooling-off ends, still stand.
    COOLING_OFF: frozenset({IN_PROGRESS, CANCELLED, REJECTED}),
    COMPLETED: frozenset(),
    REJECTED: frozenset(),
    CANCELLED: frozenset(),
}

# Where the customer may still change their mind. Work under way (in_progress) is not cancellable.
CUSTOMER_CANCELLABLE = frozenset({VERIFIED, AWAITING_REVIEW, COOLING_OFF})


def can_transition(current: str, target: str) -> bool:
    """True when the state machine allows ``current`` -> ``target``."""
    return target in TRANSITIONS.get(current, frozenset())


def transition(
    session: Session,
    request: DataRequest,
    target: str,
    *,
    actor: str,
    reasons: list[dict] | None = None,
    details: dict | None = None,
) -> None:
    """Move ``request`` to ``target`` and audit it; a move the machine forbids is a 409."""
    current = request.status
    if not can_transition(current, target):
        raise Conflict(
            f"A request in status '{current}' cannot become '{target}'.",
            slug="illegal-transition",
            title="Not allowed in the current status",
        )
    now = utcnow()
    request.status = target
    request.status_changed_at = now
    if target == VERIFIED:
        request.verified_at = now
    if target in TERMINAL:
        request.closed_at = now
    if reasons is not None:
        request.reasons = reasons
    audit.record(
        session,
        "request.status_changed",
        actor=actor,
        request_id=request.id,
        subject_id=request.subject_id,
        details={"from": current, "to": target, **(details or {})},
    )
    # The customer hears about it once this transaction commits.
    on_transition(session, request, current, target, actor=actor)
