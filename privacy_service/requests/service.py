"""Request services: intake, verification, status and cancellation.

The customer's view of a request (``status_view``) lives in ``requests/status.py``.

Services change state and write the audit entries; the caller (a view, a job, a CLI command)
commits once. Nothing here returns or logs a contact value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy_service import audit, budgets, notices
from privacy_service.datamap import correct
from privacy_service.db import utcnow
from privacy_service.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from privacy_service.requests import behalf, lifecycle, verification
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.requests.status import status_view  # noqa: F401 - the views read it here

if TYPE_CHECKING:
    from privacy_service.runtime import Runtime

CUSTOMER = "customer"


def submit(
    session: Session,
    rt: Runtime,
    data: dict,
    *,
    language: str,
    received_at: dt.datetime | None = None,
    logged_by: str | None = None,
    channel_in: str = "web",
) -> DataRequest:
    """Create a request in ``pending_verification`` with its deadline and one-time code.

    Returns the request and what to do after the commit: look the contact up in the shop's
    sources and the directory, off the request thread, so the answer and its timing are the same
    whether or not the contact belongs to a customer. A request logged by staff (``logged_by``)
    for one that came by e-mail, phone or letter (``channel_in``) counts its deadline from when
    it was received (``received_at``).
    """
    policies = rt.policies
    jurisdiction_code = data.get("jurisdiction") or policies.requests.default_jurisdiction
    if jurisdiction_code not in policies.requests.jurisdictions:
        raise Unprocessable(
            errors={"jurisdiction": [f"Unknown; one of {sorted(policies.requests.jurisdictions)}."]}
        )
    _check_categories(data, policies.categories)
    if data.get("corrections"):
        data = {**data, "corrections": correct.validate(policies.datamap, data["corrections"])}
    if (data.get("on_behalf") or {}).get("relationship") == behalf.SELF:
        data = {k: v for k, v in data.items() if k != "on_behalf"}
    behalf.check_intake(data)
    for_someone = data.get("on_behalf")

    # The request's contact is whoever asked: for someone else, the requester's own.
    asking = for_someone or data
    channel = "email" if "email" in asking else "phone"
    contact = asking[channel]
    contact_bidx = rt.vault.blind_index(channel, contact)
    # Counted whether or not the contact is a customer's, so the answers stay the same.
    budgets.charge_code_sent(contact_bidx)
    now = utcnow()
    received = received_at or now
    deadline = policies.requests.jurisdiction(jurisdiction_code).due(received, policies.calendar)
    request = DataRequest(
        type=data["type"],
        status=lifecycle.PENDING_VERIFICATION,
        jurisdiction=jurisdiction_code,
        subject_id=None,
        identity_status="pending",
        identity_next_at=now,
        contact_kind=channel,
        contact_bidx=contact_bidx,
        categories=data.get("categories"),
        language=language,
        received_at=received,
        channel=channel_in,
        on_behalf=for_someone["relationship"] if for_someone else None,
        due_date=deadline.due_date,
        due_date_provisional=deadline.provisional,
        status_changed_at=now,
    )
    session.add(request)
    request.contact = contact
    request.corrections = data.get("corrections")
    request.note = data.get("note")
    if for_someone:
        behalf.attach(session, request, data)
    code = verification.start(request, verification.otp_key(rt), verification.otp_policy(rt))
    session.flush()
    audit.record(
        session,
        "request.received",
        actor=logged_by or CUSTOMER,
        request_id=request.id,
        subject_id=request.subject_id,
        fields=[k for k in ("note", "corrections", "categories") if data.get(k)],
        details={
            "type": request.type,
            "channel": channel,
            **({"on_behalf": request.on_behalf} if for_someone else {}),
            **(
                {"received_by": channel_in, "received_at": received.isoformat()}
                if logged_by
                else {}
            ),
            "jurisdiction": jurisdiction_code,
            "due_date": request.due_date.isoformat(),
            "provisional": request.due_date_provisional,
            "correction_fields": sorted(
                f"{c['category']}.{c['field']}" for c in data.get("corrections") or []
            ),
        },
    )
    del code  # never sent: the lookup issues the code that is (verify then works the same way)
    return request


def _code_minutes(rt: Runtime) -> int:
    return max(1, rt.settings.otp_ttl_seconds // 60)


def _check_categories(data: dict, categories: dict) -> None:
    errors: dict = {}
    for i, code in enumerate(data.get("categories") or []):
        if code not in categories:
            errors.setdefault("categories", {})[i] = [
                f"Unknown category; one of {list(categories)}."
            ]
    for i, item in enumerate(data.get("corrections") or []):
        if item["category"] not in categories:
            errors.setdefault("corrections", {})[i] = {"category": ["Unknown category."]}
    if len(set(data.get("categories") or [])) != len(data.get("categories") or []):
        errors.setdefault("categories", {})["_schema"] = ["Each category once."]
    if errors:
        raise Unprocessable(errors=errors)


def get_request(session: Session, request_id: str, *, for_update: bool = False) -> DataRequest:
    """The request, or a 404 problem."""
    stmt = select(DataRequest).where(DataRequest.id == request_id)
    if for_update:
        stmt = stmt.with_for_update()
    request = session.scalars(stmt).one_or_none()
    if request is None:
        raise NotFound("No such request.")
    return request


def get_for_subject(session: Session, request_id: str, subject_id: str) -> DataRequest:
    """The request if the token's ``subject_id`` may read it, else the 404 of a missing one.

    ``behalf.may_read``: the holder, or the requester of a request on someone else's behalf.
    """
    request = session.get(DataRequest, request_id)
    if request is None or not behalf.may_read(subject_id, request):
        raise NotFound("No such request.")
    return request


@dataclasses.dataclass(frozen=True)
class SignIn:
    """The outcome of entering a code.

    ``request`` is set when the code was right; ``first`` tells a first verification (the
    request moved on) from a customer signing in again (nothing about the request changed).
    """

    request: DataRequest | None
    result: verification.CheckResult
    first: bool = False


def verify(session: Session, rt: Runtime, request_id: str, code: str) -> SignIn:
    """Check a code; on success the request becomes ``verified``, or the customer signs in again.

    A first verification moves the request on (to ``awaiting_review`` where policy asks for staff
    review). A right code for a request verified before signs the customer in again and changes
    nothing about the request. The caller commits in every case (wrong attempts must count).
    """
    request = get_request(session, request_id)
    first = request.status == lifecycle.PENDING_VERIFICATION
    # Wrong codes count against the contact's budget across all its requests (429 when spent).
    with budgets.guess(request.contact_bidx) as guess:
        result = verification.check(
            session, request, code, verification.otp_key(rt), verification.otp_policy(rt)
        )
        guess.wrong = result.wrong_guess
    if (
        result.outcome == verification.CORRECT
        and request.subject_id is None
        and request.on_behalf is None
    ):
        # No customer behind the contact: nothing to sign in to (never reached in practice, as
        # the code was never sent), and no token can name a subject. A requester for someone
        # else proves their own contact either way; the team then finds no account to act on.
        result = dataclasses.replace(result, outcome=verification.WRONG)
    audit.record(
        session,
        "request.verification_attempt" if first else "request.sign_in_attempt",
        actor=CUSTOMER,
        request_id=request.id,
        subject_id=request.subject_id,
        details={"outcome": result.outcome},
    )
    if result.outcome != verification.CORRECT:
        return SignIn(None, result)
    if not first:
        audit.record(
            session,
            "request.signed_in_again",
            actor=CUSTOMER,
            request_id=request.id,
            subject_id=request.subject_id,
            details={"status": request.status},
        )
        return SignIn(request, result)
    lifecycle.transition(session, request, lifecycle.VERIFIED, actor=CUSTOMER)
    after_verification(session, rt, request)
    return SignIn(request, result, first=True)


def token_subject(request: DataRequest) -> str:
    """Whom a verification of ``request`` signs in.

    Its account holder, or (for a request on someone else's behalf) the requester, for this one
    request only.
    """
    return behalf.principal(request.id) if request.on_behalf else request.subject_id


def after_verification(session: Session, rt: Runtime, request: DataRequest) -> None:
    """What follows a verification, by code or by staff: queue the export, or await review.

    A request on someone else's behalf always waits for the team (evidence first); nothing is
    built or changed before it is approved, and the account's own contact is told.
    """
    if request.on_behalf:
        behalf.tell_holder(session, request)
        lifecycle.transition(session, request, lifecycle.AWAITING_REVIEW, actor="system")
        return
    if request.type == "access":
        # No staff action: a worker picks the export up (exports/worker.py).
        session.add(
            ExportArchive(
                request_id=request.id,
                status=ExportArchive.QUEUED,
                max_downloads=rt.settings.export_max_downloads,
            )
        )
    if request.type in rt.policies.requests.staff_review:
        lifecycle.transition(session, request, lifecycle.AWAITING_REVIEW, actor="system")


def resend_code(session: Session, rt: Runtime, request_id: str) -> None:
    """Issue a new code (cool-down and send limits apply); its notice goes to the outbox.

    For a request verified before, the new code signs the customer in again (``verify``). While
    the contact is still being looked up (a source was down) nothing is sent: the lookup's task
    sends the newest code once it matches (the code is stored only as an HMAC, issued again
    then).
    """
    request = get_request(session, request_id)
    result = verification.resend(
        session, request, verification.otp_key(rt), verification.otp_policy(rt)
    )
    if result.exhausted:
        raise TooManyRequests(
            "No more codes can be sent for this request today; try again tomorrow.",
            slug="code-limit-reached",
        )
    if result.code is None:
        raise TooManyRequests(
            f"Wait {result.retry_after} seconds before asking for another code.",
            slug="resend-cooldown",
            headers={"Retry-After": str(result.retry_after)},
        )
    again = request.status != lifecycle.PENDING_VERIFICATION
    # A new code counts against the contact's daily cap; on 429 the caller rolls back.
    budgets.charge_code_sent(request.contact_bidx)
    audit.record(
        session,
        "request.code_resent",
        actor=CUSTOMER,
        request_id=request.id,
        subject_id=request.subject_id,
        details={"purpose": "sign_in_again" if again else "verification"},
    )
    if request.subject_id is None and (
        request.on_behalf is None or request.identity_status in ("pending", "retrying")
    ):
        return  # still looking the contact up, or no customer: its task sends a code on a match
    # Nothing goes for a contact of no customer, or once a closed account's key is destroyed.
    notices.queue(session, request, "code", code=result.code, minutes=_code_minutes(rt))


def list_for_subject(session: Session, subject_id: str) -> list[DataRequest]:
    """Every request made with the customer's contacts, newest first (with their status).

    For a requester on someone else's behalf (``behalf.principal``): the one request they made.
    """
    if subject_id.startswith(behalf.principal("")):
        found = session.get(DataRequest, subject_id.removeprefix(behalf.principal("")))
        return [found] if found is not None and behalf.may_read(subject_id, found) else []
    return list(
        session.scalars(
            select(DataRequest)
            .where(DataRequest.subject_id == subject_id)
            .order_by(DataRequest.received_at.desc(), DataRequest.id.desc())
        )
    )


def cancel(session: Session, request: DataRequest, *, actor: str = CUSTOMER) -> None:
    """Cancel while the customer may still change their mind; otherwise a 409 problem."""
    if request.status not in lifecycle.CUSTOMER_CANCELLABLE:
        raise Conflict(
            f"A request in status '{request.status}' can no longer be cancelled.",
            slug="not-cancellable",
            title="Not allowed in the current status",
        )
    lifecycle.transition(session, request, lifecycle.CANCELLED, actor=actor)
