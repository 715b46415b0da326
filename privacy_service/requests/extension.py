"""Extending a request's deadline where its jurisdiction allows it (GDPR Art. 12(3), CCPA).

Once per request, with a reason in both languages that the customer is told (the notice says
the old and the new due date). A jurisdiction without an ``extension`` (China's PIPL) refuses.
The caller commits.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privacy_service import audit, notices
from privacy_service.audit import AuditEntry
from privacy_service.errors import Conflict, Unprocessable
from privacy_service.notices import outcomes
from privacy_service.policies.requests import add_period
from privacy_service.requests import lifecycle

EXTENDED = "request.deadline_extended"


def _open(request) -> bool:
    # Verified and not closed: only then is there a deadline the team is working towards.
    return (
        request.status not in lifecycle.TERMINAL
        and request.status != lifecycle.PENDING_VERIFICATION
    )


def allowed(session: Session, policies, request) -> bool:
    """The jurisdiction allows one extension, and this open request has not had it."""
    jurisdiction = policies.requests.jurisdictions.get(request.jurisdiction)
    if jurisdiction is None or not jurisdiction.extension or not _open(request):
        return False
    return (
        session.scalar(
            select(AuditEntry.seq)
            .where(AuditEntry.request_id == request.id, AuditEntry.action == EXTENDED)
            .limit(1)
        )
        is None
    )


def extend(
    session: Session, policies, request, *, actor: str, reason_zh: str, reason_en: str
) -> None:
    """Move the due date on by the jurisdiction's extension and tell the customer why."""
    if not reason_zh.strip() or not reason_en.strip():
        raise Unprocessable(errors={"reason": ["An extension needs a reason in both languages."]})
    jurisdiction = policies.requests.jurisdiction(request.jurisdiction)
    if not jurisdiction.extension:
        raise Conflict(f"The {jurisdiction.code} rules allow no extension.", slug="no-extension")
    if not _open(request):
        raise Conflict("Only an open, verified request can be extended.", slug="not-extendable")
    already = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.request_id == request.id, AuditEntry.action == EXTENDED)
    )
    if already:
        raise Conflict("The deadline was extended before; once is the limit.", slug="extended")
    old_due = request.due_date
    extended = add_period(old_due, jurisdiction.extension, policies.calendar)
    request.due_date = extended.due_date
    request.due_date_provisional = extended.provisional
    audit.record(
        session,
        EXTENDED,
        actor=actor,
        request_id=request.id,
        subject_id=request.subject_id,
        details={"from": old_due.isoformat(), "to": extended.due_date.isoformat()},
    )
    reason = reason_zh.strip() if request.language == "zh-CN" else reason_en.strip()
    notices.queue(
        session,
        request,
        "deadline_extended",
        type_label=outcomes.type_label(request),
        old_due=old_due.isoformat(),
        new_due=extended.due_date.isoformat(),
        reason=reason,
    )
