"""Identity documents held for customs clearance.

The shop's other services store a customer's resident ID number here instead of keeping it
themselves, read it back for a declaration (each read audited with its purpose), and find a
customer by ID number through the blind index.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit
from privacy_service.crypto import normalize, vault_of
from privacy_service.crypto.fields import Encrypted
from privacy_service.crypto.normalize import mask
from privacy_service.db import ID, Base, UTCDateTime, utcnow
from privacy_service.errors import NotFound, Unprocessable
from privacy_service.subjects.models import Subject, SubjectAccount

READ_PURPOSES = ("customs_declaration", "customs_inquiry", "customer_request", "legal_obligation")


class IdentityDocument(Base):
    """A resident ID number and the holder's name as on the card, sealed under the subject's key."""

    __tablename__ = "identity_documents"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False, default="resident_id")
    id_number_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    holder_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    id_number = Encrypted("id_number_enc", owner="subject_id")
    holder_name = Encrypted("holder_name_enc", owner="subject_id")

    @property
    def masked(self) -> str:
        """The ID number with all but the first 3 and last 4 characters hidden."""
        return mask("id_number", self.id_number)


def _subject(session: Session, subject_id: str | None, customer_ref: str | None) -> Subject:
    if subject_id:
        subject = session.get(Subject, subject_id)
    else:
        subject = session.scalars(
            select(Subject).where(Subject.external_ref == customer_ref)
        ).first()
        if subject is None:
            # An operator's shop: its customer id is an account linked at the first request.
            subject = session.scalars(
                select(Subject)
                .join(SubjectAccount, SubjectAccount.subject_id == Subject.id)
                .where(SubjectAccount.account_key == customer_ref)
                .order_by(SubjectAccount.created_at)
            ).first()
    if subject is None:
        field = "subject_id" if subject_id else "customer_ref"
        raise Unprocessable(errors={field: ["No such customer."]})
    return subject


def store(
    session: Session,
    *,
    service: str,
    id_number: str,
    holder_name: str,
    subject_id: str | None = None,
    customer_ref: str | None = None,
) -> IdentityDocument:
    """Store a validated ID number for a customer (the same number twice is one document)."""
    try:
        number = normalize("id_number", id_number)
    except ValueError as exc:
        raise Unprocessable(errors={"id_number": [str(exc)]}) from exc
    subject = _subject(session, subject_id, customer_ref)
    for existing in find(session, number):
        if existing.subject_id == subject.id:
            existing.holder_name = holder_name
            return existing
    document = IdentityDocument(subject_id=subject.id, created_by=service)
    session.add(document)
    document.id_number = number
    document.holder_name = holder_name
    document.id_number_bidx = vault_of(session).blind_index("id_number", number)
    session.flush()
    audit.record(
        session,
        "identity_document.stored",
        actor=f"service:{service}",
        subject_id=subject.id,
        fields=["id_number", "holder_name"],
        details={"document_id": document.id},
    )
    return document


def read(session: Session, document_id: str, *, service: str, purpose: str) -> IdentityDocument:
    """Disclose a document to a service for ``purpose``; every read is audited."""
    document = session.get(IdentityDocument, document_id)
    if document is None:
        raise NotFound("No such identity document.")
    document.last_read_at = utcnow()
    audit.record(
        session,
        "identity_document.read",
        actor=f"service:{service}",
        subject_id=document.subject_id,
        fields=["id_number", "holder_name"],
        details={"document_id": document.id, "purpose": purpose},
    )
    return document


def find(session: Session, id_number: str) -> list[IdentityDocument]:
    """Documents whose ID number equals ``id_number``.

    Blind-index candidates, then a constant-time comparison of the decrypted values, so an
    index collision never matches.
    """
    vault = vault_of(session)
    number = normalize("id_number", id_number)
    candidates = session.scalars(
        select(IdentityDocument).where(
            IdentityDocument.id_number_bidx == vault.blind_index("id_number", number)
        )
    )
    return [doc for doc in candidates if vault.same(doc.id_number, number)]


def delete(session: Session, document_id: str, *, service: str) -> None:
    """Remove a document (clearance done, or the customer asked)."""
    document = session.get(IdentityDocument, document_id)
    if document is None:
        raise NotFound("No such identity document.")
    session.delete(document)
    audit.record(
        session,
        "identity_document.deleted",
        actor=f"service:{service}",
        subject_id=document.subject_id,
        details={"document_id": document_id},
    )
