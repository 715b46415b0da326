"""Operations that span requests and retention, written once for the API, the pages and the CLI.

The packages below (requests, retention) each change their own state; a sequence that needs both
lives here, so every entry point runs the same steps and commits once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from privacy_service.policies.requests import RequestType
from privacy_service.requests import service, staff
from privacy_service.requests.models import DataRequest
from privacy_service.runtime import Runtime
from retention.processor import start_closure


def verify(session: Session, rt: Runtime, request_id: str, code: str) -> service.SignIn:
    """Check a request's code and commit what it changed (the caller turns it into an answer).

    A first verification of an account closure decides it now (refused with reasons, or into the
    cooling-off), so the customer learns at once what stands in the way; one made on someone
    else's behalf is decided after the team accepts the evidence. Wrong guesses are
    committed too: they count against the code.
    """
    signed = service.verify(session, rt, request_id, code)
    # A closure on someone else's behalf waits for the team's review of the evidence first.
    if (
        signed.first
        and signed.request.type == RequestType.ACCOUNT_CLOSURE
        and not signed.request.on_behalf
    ):
        start_closure(rt.erasure_deps(), session, signed.request)
    session.commit()
    return signed


def approve(session: Session, rt: Runtime, request: DataRequest, *, actor: str) -> None:
    """Approve a request awaiting review (``requests.staff.approve``); the caller commits.

    A closure on someone else's behalf, decided only now that the team accepted the evidence,
    starts its cooling-off (or is refused with reasons) in the same transaction: the erasure
    worker never sees it in progress without one.
    """
    staff.approve(session, rt.collector(), request, actor=actor, rt=rt)
    if request.on_behalf and request.type == RequestType.ACCOUNT_CLOSURE:
        start_closure(rt.erasure_deps(), session, request)
