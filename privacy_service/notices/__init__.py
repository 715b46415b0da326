"""Notices to customers: one for every outcome of their request, written with the change.

Services queue a notice on the session (``queue``) in the same transaction as the change it
tells about; as that transaction commits the notices are rendered from the editable templates
(``templates.py``) in the request's language and written, sealed, to the outbox
(``outbox.py``) in that same transaction; a queue task sends them over the channel the request
came from once it has committed. A rollback drops them. Messages name request ids, dates,
counts and what the customer typed, never other personal data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from privacy_service.crypto.vault import DecryptionError
from privacy_service.notices import outbox

log = logging.getLogger(__name__)
KEY = "privacy.notices"
CONTACTS = "privacy.notice_contacts"

KINDS = (
    "received",
    "code",
    "verified",
    "refused",
    "correction_done",
    "deletion_done",
    "closure_refused",
    "cooling_off_started",
    "closure_done",
    "deadline_extended",
    "export_ready",
    "export_expiring",
    "on_behalf_requested",
)


@dataclasses.dataclass(frozen=True)
class Notice:
    """A message to send once the transaction commits."""

    kind: str
    request_id: str
    channel: str
    to: str
    language: str
    params: dict


def remember_contact(session: Session, request) -> None:
    """Read the request's contact now, for a notice queued after its key is destroyed (closure)."""
    with contextlib.suppress(DecryptionError):
        session.info.setdefault(CONTACTS, {})[request.id] = request.contact


def make(request, kind: str, *, contact: str | None = None, **params) -> Notice | None:
    """Notice ``kind`` about ``request``, or None when it cannot go to anyone.

    Nothing goes to a contact that belongs to no customer, or whose key was destroyed. A request
    made on someone else's behalf carries the requester's own contact: it is told even when the
    account they named matched nothing (so the notices do not say whether an account exists).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notice {kind!r}")
    if request.subject_id is None and request.on_behalf is None:
        return None
    if contact is None:
        try:
            contact = request.contact
        except DecryptionError:
            return None
    return _notice(request, kind, request.contact_kind, contact, params)


def _notice(
    request, kind: str, channel: str, to: str, params: dict, language: str | None = None
) -> Notice:
    language = language or request.language
    return Notice(
        kind=kind,
        request_id=request.id,
        channel=channel,
        to=to,
        language=language if language in ("zh-CN", "en") else "zh-CN",
        params={"request_id": request.id, **params},
    )


def queue(session: Session, request, kind: str, **params) -> bool:
    """Queue notice ``kind`` about ``request`` for after the commit; False when none can go."""
    notice = make(request, kind, contact=session.info.get(CONTACTS, {}).get(request.id), **params)
    if notice is None:
        return False
    session.info.setdefault(KEY, []).append(notice)
    return True


def queue_to(
    session: Session,
    request,
    kind: str,
    *,
    channel: str,
    to: str,
    language: str | None = None,
    **params,
) -> None:
    """Queue notice ``kind`` about ``request`` to another contact than the request's own.

    For the account holder of a request someone else made on their behalf (in the holder's
    language when known, else the request's).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notice {kind!r}")
    notice = _notice(request, kind, channel, to, params, language)
    session.info.setdefault(KEY, []).append(notice)


def install(session_factory, render) -> None:
    """Write the notices of every transaction of ``session_factory``'s sessions to the outbox.

    Just before the commit, each queued notice is rendered (``render(notice)`` returns the
    subject and text, or None when it cannot be) and written, sealed, in the same transaction
    (``notices.outbox``): the change and its notices are stored together or not at all.
    """

    @event.listens_for(session_factory, "before_commit")
    def _before_commit(session):
        pending = session.info.pop(KEY, [])
        session.info.pop(CONTACTS, None)
        for notice in pending:
            rendered = render(notice)
            if rendered is None:
                continue  # logged by the renderer; the change itself still commits
            subject, text = rendered
            outbox.add(
                session,
                kind=notice.kind,
                channel=notice.channel,
                to=notice.to,
                subject=subject,
                text=text,
                request_id=notice.request_id,
            )

    @event.listens_for(session_factory, "after_commit")
    def _after_commit(session):
        outbox.forget_batches(session)

    @event.listens_for(session_factory, "after_rollback")
    def _after_rollback(session):
        session.info.pop(KEY, None)
        session.info.pop(CONTACTS, None)
        outbox.forget_batches(session)
