"""Finding who a request's contact is, in the shop's own systems, after the answer has gone.

``submit`` answers at once, the same whether or not the contact belongs to a customer; this
module then looks the contact up in every source whose identity table declares contact columns
and in the service's directory. A match registers the subject (with its data key) the first time,
links each matched account to it, records the accounts the request covers, re-seals the
request's fields under the subject's key, and issues the one-time code to send. No match: the
request stays unanswered (its code is never sent). A source that fails makes the lookup
``retrying`` with the source and error type recorded (the staff request page shows it; the log
says it), and its task on the queue tries again with backoff: never a silent "not a customer".

A lookup runs as a task on the queue's customer lane (``tasks.work.look_up_identity``). It is
claimed with a lease on the request row (``identity_next_at``), so a duplicate task does
nothing, and a process killed mid-way is taken over. The code's notice is written to the outbox
in the transaction that records the match (``notices.outbox``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privacy_service import audit, notices
from privacy_service.crypto.normalize import InvalidValue
from privacy_service.datamap import steps
from privacy_service.datamap.lookup import find_accounts
from privacy_service.db import utcnow
from privacy_service.notices import outcomes
from privacy_service.requests import behalf, verification
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.directory import find_by_contact, register
from privacy_service.subjects.models import Subject, SubjectAccount

log = logging.getLogger(__name__)
PENDING, MATCHED, UNMATCHED, RETRYING = "pending", "matched", "unmatched", "retrying"
OPEN = (PENDING, RETRYING)
LEASE_SECONDS = 120
RETRY_BASE_SECONDS = 15
RETRY_MAX_SECONDS = 600


@dataclasses.dataclass
class Lookup:
    """What the sources and the directory said about one contact."""

    accounts: list[dict]
    failures: dict[str, str]
    directory: Subject | None


def backoff(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failures (15 s doubling, at most 10 min)."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))


def claim(session: Session, request_id: str) -> bool:
    """Take the lookup of one request for a lease; commits. False when someone else holds it."""
    now = utcnow()
    taken = session.execute(
        update(DataRequest)
        .where(
            DataRequest.id == request_id,
            DataRequest.identity_status.in_(OPEN),
            or_(DataRequest.identity_next_at.is_(None), DataRequest.identity_next_at <= now),
        )
        .values(identity_next_at=now + dt.timedelta(seconds=LEASE_SECONDS))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return taken == 1


def due(session: Session, limit: int = 50) -> list[str]:
    """Requests whose lookup is waiting or due for another try."""
    return list(
        session.scalars(
            select(DataRequest.id)
            .where(
                DataRequest.identity_status.in_(OPEN),
                or_(
                    DataRequest.identity_next_at.is_(None), DataRequest.identity_next_at <= utcnow()
                ),
            )
            .order_by(DataRequest.received_at)
            .limit(limit)
        )
    )


def look_up(session: Session, collector, datamap, kind: str, contact: str) -> Lookup:
    """Ask every source that declares ``kind`` contacts, and the directory."""
    accounts, failures = [], {}
    for source in datamap.contact_sources(kind):
        try:
            keys = find_accounts(collector, source, kind, contact)
        except InvalidValue:
            keys = []
        except Exception as exc:  # any driver error: the source is down or misconfigured
            failures[source.name] = type(exc).__name__
            continue
        accounts.extend({"source": source.name, "key": key} for key in keys)
    return Lookup(accounts, failures, find_by_contact(session, kind, contact))


def _legacy_accounts(datamap, subject: Subject) -> list[dict]:
    # Sources keyed by a directory field (the demo seed's external_ref, or the subject id).
    out = []
    for source in datamap.sources.values():
        if source.kind != "sql" or not source.subject_field:
            continue
        value = getattr(subject, source.subject_field)
        if value is not None:
            out.append({"source": source.name, "key": str(value)})
    return out


def _shredded(subject: Subject) -> bool:
    # Crypto-shredding clears the blind indexes with the key: nothing can be sealed for it.
    return subject.email_bidx is None and subject.phone_bidx is None


def _subject_for(session: Session, request: DataRequest, found: Lookup) -> tuple[Subject, bool]:
    if found.directory is not None:
        return found.directory, False
    for account in found.accounts:
        linked = session.scalars(
            select(SubjectAccount).where(
                SubjectAccount.source == account["source"],
                SubjectAccount.account_key == account["key"],
            )
        ).first()
        if linked is not None:
            owner = session.get(Subject, linked.subject_id)
            if not _shredded(owner):
                return owner, False
    kind, contact = behalf.subject_contact(session, request)
    subject = register(session, **{kind: contact}, preferred_language=request.language)
    session.flush()
    return subject, True


def _link(session: Session, subject: Subject, accounts: list[dict]) -> None:
    for account in accounts:
        exists = session.scalars(
            select(SubjectAccount).where(
                SubjectAccount.source == account["source"],
                SubjectAccount.account_key == account["key"],
            )
        ).first()
        if (
            exists is not None
            and exists.subject_id != subject.id
            and _shredded(session.get(Subject, exists.subject_id))
        ):
            exists.subject_id = subject.id  # its former owner closed their account
        if exists is None:
            session.add(
                SubjectAccount(
                    subject_id=subject.id, source=account["source"], account_key=account["key"]
                )
            )
    session.flush()


def _reseal(request: DataRequest, subject: Subject) -> None:
    # The request's fields were sealed under its own key; from now on its subject owns them.
    contact, corrections, note = request.contact, request.corrections, request.note
    request.subject_id = subject.id
    request.contact, request.corrections, request.note = contact, corrections, note


def resolve(session: Session, rt, request_id: str) -> str | None:
    """Look one claimed request's contact up; returns a code to send, or None. Commits."""
    request = session.get(DataRequest, request_id)
    if request is None or request.identity_status not in OPEN:
        session.commit()
        return None
    datamap = rt.policies.datamap
    # The account's contact: the request's own, or the one a requester for someone else gave.
    kind, contact = behalf.subject_contact(session, request)
    found = look_up(session, rt.collector(), datamap, kind, contact)
    now = utcnow()
    for source in datamap.contact_sources(kind):
        steps.started(session, request.id, source.name, "lookup")
        if source.name in found.failures:
            steps.failed(session, request.id, source.name, "lookup", found.failures[source.name])
        else:
            n = sum(1 for a in found.accounts if a["source"] == source.name)
            steps.finished(session, request.id, source.name, "lookup", n)
    if found.failures:
        request.identity_attempts = (request.identity_attempts or 0) + 1
        request.identity_status = RETRYING
        request.identity_errors = found.failures
        request.identity_next_at = now + dt.timedelta(seconds=backoff(request.identity_attempts))
        audit.record(
            session,
            "request.identity_lookup_failed",
            actor="system",
            request_id=request.id,
            details={"sources": found.failures, "attempt": request.identity_attempts},
        )
        session.commit()
        log.warning(
            "identity lookup failed; will retry",
            extra={
                "request_id": request.id,
                "sources": sorted(found.failures),
                "error_types": sorted(set(found.failures.values())),
                "attempt": request.identity_attempts,
            },
        )
        return None
    request.identity_errors = None
    request.identity_next_at = None
    if not found.accounts and found.directory is None:
        request.identity_status = UNMATCHED
        code = None
        if request.on_behalf:
            # The requester proves their own contact whether or not the account exists: no
            # code arriving must not tell a stranger that nobody has that contact.
            code = verification.reissue(
                request, verification.otp_key(rt), verification.otp_policy(rt)
            )
            _queue_received(session, rt, request, code)
        session.commit()
        return code
    subject, registered = _subject_for(session, request, found)
    if registered:
        audit.record(
            session,
            "subject.registered",
            actor="system",
            subject_id=subject.id,
            fields=[request.contact_kind],
            details={"via": "source_lookup"},
        )
    _link(session, subject, found.accounts)
    accounts = list(found.accounts)
    if found.directory is not None:
        seen = {(a["source"], a["key"]) for a in accounts}
        accounts += [
            a
            for a in _legacy_accounts(datamap, found.directory)
            if (a["source"], a["key"]) not in seen
        ]
    _reseal(request, subject)
    request.accounts = accounts
    request.identity_status = MATCHED
    if request.on_behalf and request.status != "pending_verification":
        # Verified by staff before the lookup ended: the holder is told now it is known.
        behalf.tell_holder(session, request)
    code = verification.reissue(request, verification.otp_key(rt), verification.otp_policy(rt))
    audit.record(
        session,
        "request.identity_matched",
        actor="system",
        request_id=request.id,
        subject_id=subject.id,
        details={
            "accounts": {
                s: sum(1 for a in accounts if a["source"] == s)
                for s in dict.fromkeys(a["source"] for a in accounts)
            },
            "directory": found.directory is not None,
        },
    )
    _queue_received(session, rt, request, code)
    session.commit()
    return code


def _queue_received(session: Session, rt, request: DataRequest, code: str) -> None:
    """The "received" notice carrying the code, written to the outbox with the match."""
    notices.queue(
        session,
        request,
        "received",
        code=code,
        minutes=max(1, rt.settings.otp_ttl_seconds // 60),
        type_label=outcomes.type_label(request),
        due_date=request.due_date.isoformat(),
    )


def resolve_and_send(rt, request_id: str) -> bool:
    """Claim and look up; True when the contact matched and its code's notice was written.

    The notice is in the outbox in the same transaction as the match; its task sends it.
    """
    session = rt.db.new_session()
    try:
        if not claim(session, request_id):
            return False
        for attempt in range(2):
            try:
                code = resolve(session, rt, request_id)
                break
            except IntegrityError:
                # Another request linked the same account meanwhile: look again, once.
                session.rollback()
                if attempt:
                    raise
        return code is not None
    finally:
        session.close()


def run_due(rt, limit: int = 50) -> int:
    """Look up, in this process, every request due for it; returns codes sent (tests, drains).

    In service the queued ``identity`` tasks do this, one request each (``tasks.work``).
    """
    session = rt.db.new_session()
    try:
        waiting = due(session, limit)
    finally:
        session.close()
    sent = 0
    for request_id in waiting:
        try:
            sent += resolve_and_send(rt, request_id)
        except Exception as exc:  # one bad request must not stop the others
            log.error(
                "identity lookup crashed",
                extra={"request_id": request_id, "error_type": type(exc).__name__},
            )
    return sent
