"""Finding a subject by contact without decrypting the table, and registering subjects."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy_service.crypto import normalize, vault_of
from privacy_service.subjects.models import Subject

CONTACT_KINDS = ("email", "phone")


def find_by_contact(session: Session, kind: str, value: str) -> Subject | None:
    """The subject whose ``kind`` contact equals ``value``, or None.

    The blind index narrows the search to candidates; each candidate's contact is decrypted and
    compared in constant time, so an index collision never matches the wrong customer.
    """
    vault = vault_of(session)
    wanted = normalize(kind, value)
    column = Subject.email_bidx if kind == "email" else Subject.phone_bidx
    for candidate in session.scalars(
        select(Subject).where(column == vault.blind_index(kind, value))
    ):
        stored = getattr(candidate, kind)
        if stored is not None and vault.same(normalize(kind, stored), wanted):
            return candidate
    return None


def register(
    session: Session,
    *,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    external_ref: str | None = None,
    preferred_language: str = "zh-CN",
) -> Subject:
    """Add a subject with normalised, encrypted contacts and their blind indexes."""
    vault = vault_of(session)
    subject = Subject(external_ref=external_ref, preferred_language=preferred_language)
    session.add(subject)
    if email:
        subject.email = normalize("email", email)
        subject.email_bidx = vault.blind_index("email", email)
    if phone:
        subject.phone = normalize("phone", phone)
        subject.phone_bidx = vault.blind_index("phone", phone)
    subject.name = name
    return subject
