"""What the privacy team decides on a request: approve, or refuse with reasons (PIPL Art. 50).

Used by the CLI today and the dashboard later; the caller commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from privacy_service.errors import Conflict, Unprocessable
from privacy_service.requests import behalf, corrections, lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.subjects.scope import for_request


def approve(session: Session, collector, request: DataRequest, *, actor: str, rt=None) -> None:
    """Approve a request awaiting review.

    A correction is written to the sources at once and completes when every source took it
    (a source that failed is retried by the worker); a deletion goes to the worker.
    A request on someone else's behalf needs the requester's evidence accepted first; its access
    export is queued only now (``rt`` gives its settings). Its closure starts the cooling-off in
    the same transaction: ``operations.approve`` does both, and every entry point calls it.
    """
    if request.status != lifecycle.AWAITING_REVIEW:
        raise Conflict(
            f"Only a request awaiting review can be approved, not '{request.status}'.",
            slug="not-awaiting-review",
        )
    behalf.require_accepted(session, request)
    if request.on_behalf and request.type in ("access", "account_closure") and rt is None:
        raise Conflict("Approve this request on the dashboard.", slug="needs-dashboard")
    lifecycle.transition(
        session, request, lifecycle.IN_PROGRESS, actor=actor, details={"decision": "approved"}
    )
    if request.on_behalf and request.type == "access":
        # Built only now that the team checked who asked (exports/worker.py takes it from here).
        session.add(
            ExportArchive(
                request_id=request.id,
                status=ExportArchive.QUEUED,
                max_downloads=rt.settings.export_max_downloads,
            )
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
