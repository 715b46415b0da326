"""A subject as one request sees it: only the accounts that request's verified contact matched."""

from __future__ import annotations

from sqlalchemy.orm import Session

from privacy_service.subjects.models import Subject


class RequestSubject:
    """The request's subject, limited to the accounts the request covers.

    Everything else (id, data key, contacts) is the subject's own. The collector reads
    ``accounts_by_source`` instead of every account linked to the subject, so a contact never
    reaches accounts it did not match.
    """

    def __init__(self, subject: Subject, accounts: list[dict]):
        self._subject = subject
        self.accounts = accounts
        self.accounts_by_source: dict[str, list[str]] = {}
        for account in accounts:
            self.accounts_by_source.setdefault(account["source"], []).append(account["key"])

    _OWN = ("_subject", "accounts", "accounts_by_source")

    def __getattr__(self, name):
        return getattr(self._subject, name)

    def __setattr__(self, name, value):
        # Changes (e.g. a corrected phone in the directory) go to the subject itself.
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._subject, name, value)


def for_request(session: Session, request) -> Subject | RequestSubject | None:
    """The request's subject, scoped to its accounts (requests from before accounts: unscoped)."""
    if request.subject_id is None:
        return None
    subject = session.get(Subject, request.subject_id)
    if subject is None or request.accounts is None:
        return subject
    return RequestSubject(subject, request.accounts)
