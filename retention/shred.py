"""Crypto-shredding a subject: destroy their data key, clear their blind indexes, audit it."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.crypto import vault_of
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.identity import IdentityDocument
from privacy_service.subjects.models import Subject


def shred_subject(session: Session, subject_id: str, *, actor: str, reason: str) -> dict:
    """Make everything sealed under the subject's key unreadable; idempotent, caller commits.

    Backups taken before stay readable only until the KEK generation they hold is rotated away
    and retired. Returns counts of what was cleared (no personal data).
    """
    destroyed = vault_of(session).shred(session, subject_id)
    counts = {
        "subject_indexes": session.execute(
            update(Subject).where(Subject.id == subject_id).values(email_bidx=None, phone_bidx=None)
        ).rowcount,
        "identity_document_indexes": session.execute(
            update(IdentityDocument)
            .where(IdentityDocument.subject_id == subject_id)
            .values(id_number_bidx=None)
        ).rowcount,
        "request_indexes": session.execute(
            update(DataRequest)
            .where(DataRequest.subject_id == subject_id)
            .values(contact_bidx=None)
        ).rowcount,
    }
    audit.record(
        session,
        "subject.crypto_shredded",
        actor=actor,
        subject_id=subject_id,
        details={"key_destroyed_now": destroyed, "reason": reason, **counts},
    )
    return counts
