"""Requests made on someone else's behalf: who may ask for what, the requester, the evidence.

A parent or guardian for a minor (PIPL Art. 31: under 14 only with the guardian; the shop's
notice: under 18 only with a parent or guardian), a close relative of a deceased customer
(Art. 49: access, copy, correction and deletion of the deceased's data for the relative's own
lawful interests) and an agent with a written authorisation.

The request's own contact (``DataRequest.contact``) is the **requester's**: codes, sign-in and
outcome notices go to the person who asked. The account is named by the contact the requester
typed for it, kept sealed here; the lookup finds the account by it. Whether or not it matches,
the requester gets a code (the answer and the code must not tell a stranger whether an account
exists), and every such request waits for the privacy team: the requester's evidence (a sealed
upload, or a check the team records) is accepted before anything is approved, an access export
is built only after approval, and the account's own contact is told a request was made on its
behalf (not for a deceased customer). Evidence is deleted ``EVIDENCE_KEEP_DAYS`` after the
request is closed (``purge_evidence``, run with every retention pass).
"""

from __future__ import annotations

import base64
import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit, notices
from privacy_service.crypto.fields import Encrypted
from privacy_service.crypto.normalize import InvalidValue, normalize
from privacy_service.db import ID, Base, UTCDateTime, utcnow
from privacy_service.errors import Conflict, Unprocessable
from privacy_service.notices import outcomes
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.models import Subject

SELF = "self"
GUARDIAN, DECEASED, AGENT = "guardian", "deceased_relative", "agent"

# Which request types each relationship may make. A relative of a deceased customer has the
# rights Art. 49 names (access, copy, correct, delete), not closure: closing (注销) is the
# holder's act, and deletion already removes what the law does not require us to keep. An agent
# acts within a written authorisation for data rights; closing someone's account is left to the
# holder or their guardian.
RELATIONSHIPS: dict[str, dict] = {
    GUARDIAN: {
        "types": ("access", "correction", "deletion", "account_closure"),
        "evidence": ("guardianship", "birth_certificate", "household_register", "requester_id"),
        "label": {"zh-CN": "未成年人的父母或监护人", "en": "Parent or guardian of a minor"},
    },
    DECEASED: {
        "types": ("access", "correction", "deletion"),
        "evidence": ("death_certificate", "relationship_proof", "requester_id"),
        "label": {"zh-CN": "已故用户的近亲属", "en": "Close relative of a deceased customer"},
    },
    AGENT: {
        "types": ("access", "correction", "deletion"),
        "evidence": ("authorisation", "requester_id"),
        "label": {"zh-CN": "经书面授权的代理人", "en": "Agent with written authorisation"},
    },
}
EVIDENCE_KINDS: dict[str, dict[str, str]] = {
    "guardianship": {"zh-CN": "监护关系证明", "en": "Proof of guardianship"},
    "birth_certificate": {"zh-CN": "出生医学证明", "en": "Birth certificate"},
    "household_register": {"zh-CN": "户口簿", "en": "Household register (hukou)"},
    "death_certificate": {"zh-CN": "死亡证明", "en": "Death certificate"},
    "relationship_proof": {"zh-CN": "亲属关系证明", "en": "Proof of the relationship"},
    "authorisation": {"zh-CN": "签字的授权委托书", "en": "Signed written authorisation"},
    "requester_id": {"zh-CN": "申请人本人的身份证件", "en": "The requester's own ID"},
}
# What an upload may be, told by its first bytes (the declared type is not trusted).
MAGIC = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}
AWAITING, ACCEPTED, REJECTED = "awaiting", "accepted", "rejected"
# How the team checked the relationship (the dashboard's check form and the audit's details).
CHECK_METHODS: dict[str, dict[str, str]] = {
    "documents_reviewed": {"zh-CN": "审阅了提交的材料", "en": "documents reviewed"},
    "called_requester": {"zh-CN": "致电申请人核实", "en": "called the requester"},
    "in_person": {"zh-CN": "现场核验原件", "en": "originals seen in person"},
    "other": {"zh-CN": "其他方式", "en": "other"},
}
MAX_FILES = 5
MAX_BYTES = 5 * 1024 * 1024
# Days a closed request's evidence is kept (for a complaint or an audit of the decision).
EVIDENCE_KEEP_DAYS = 30


def allowed(relationship: str, request_type: str) -> bool:
    """True when ``relationship`` may make a request of ``request_type``."""
    return request_type in RELATIONSHIPS.get(relationship, {}).get("types", ())


def label(relationship: str | None, lang: str) -> str:
    """The relationship as people read it."""
    if not relationship:
        return {"zh-CN": "本人", "en": "The account holder"}[lang]
    return RELATIONSHIPS[relationship]["label"][lang]


def principal(request_id: str) -> str:
    """The token subject of a requester acting for someone else: this one request, no account."""
    return f"request:{request_id}"


def may_read(token_subject: str, request) -> bool:
    """Whether a bearer token's subject may read ``request``.

    The account holder reads their requests (also those made for them); a requester on someone
    else's behalf reads only the request they made.
    """
    if request.subject_id is not None and token_subject == request.subject_id:
        return True
    return request.on_behalf is not None and token_subject == principal(request.id)


class Requester(Base):
    """Who asked on the account holder's behalf, and how the team checked it.

    Sealed under the request's own key: this is the requester's data, not the holder's, and
    closing the holder's account must not leave the team unable to read what it decided on.
    """

    __tablename__ = "request_requesters"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    relationship: Mapped[str] = mapped_column(String(24), nullable=False)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The account's contact as the requester typed it (the lookup's input; the holder's notice).
    subject_contact_kind: Mapped[str] = mapped_column(String(8), nullable=False)
    subject_contact_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    evidence_status: Mapped[str] = mapped_column(String(12), nullable=False, default=AWAITING)
    check_method: Mapped[str | None] = mapped_column(String(24))
    check_note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    checked_by: Mapped[str | None] = mapped_column(String(120))
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    holder_told_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    key_owner_kind = "request"
    name = Encrypted("name_enc", owner="request_id")
    subject_contact = Encrypted("subject_contact_enc", owner="request_id")
    check_note = Encrypted("check_note_enc", owner="request_id")


class Evidence(Base):
    """A document the requester uploaded (or the team attached), sealed; deleted after closing."""

    __tablename__ = "request_evidence"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    filename_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(120), nullable=False)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    key_owner_kind = "request"
    filename = Encrypted("filename_enc", owner="request_id")
    body = Encrypted("body_enc", owner="request_id")

    def content(self) -> bytes:
        """The document's bytes (sealed as base64 text)."""
        return base64.b64decode(self.body or "")


def requester_of(session: Session, request) -> Requester | None:
    """The requester record of an on-behalf request (None for the holder's own)."""
    if request.on_behalf is None:
        return None
    return session.scalars(select(Requester).where(Requester.request_id == request.id)).first()


def evidence_of(session: Session, request_id: str) -> list[Evidence]:
    """The request's evidence, oldest first (deleted documents included, without content)."""
    return list(
        session.scalars(
            select(Evidence).where(Evidence.request_id == request_id).order_by(Evidence.uploaded_at)
        )
    )


def check_intake(data: dict) -> None:
    """Refuse an ``on_behalf`` the relationship does not allow (422, nothing stored)."""
    behalf = data.get("on_behalf")
    if not behalf:
        return
    if not allowed(behalf["relationship"], data["type"]):
        permitted = ", ".join(RELATIONSHIPS[behalf["relationship"]]["types"])
        raise Unprocessable(
            errors={
                "on_behalf": {
                    "relationship": [
                        f"A {behalf['relationship']} may make these requests: {permitted}."
                    ]
                }
            }
        )


def attach(session: Session, request, data: dict) -> Requester:
    """Record the requester of a new request (``submit`` calls it; the caller commits)."""
    behalf = data["on_behalf"]
    kind = "email" if "email" in data else "phone"
    session.flush()  # the request row first: the requester's row refers to it
    requester = Requester(
        request_id=request.id, relationship=behalf["relationship"], subject_contact_kind=kind
    )
    session.add(requester)
    try:  # the API's schema normalised it already; a contact typed by staff may not be
        requester.subject_contact = normalize(kind, data[kind])
    except InvalidValue:
        requester.subject_contact = data[kind]
    requester.name = behalf.get("name")
    return requester


def subject_contact(session: Session, request) -> tuple[str, str]:
    """The contact the account is looked up by: the requester's entry for it, or the request's."""
    requester = requester_of(session, request)
    if requester is None:
        return request.contact_kind, request.contact
    return requester.subject_contact_kind, requester.subject_contact


def tell_holder(session: Session, request) -> None:
    """Tell the account's own contact that someone asked on its behalf (not the deceased's).

    Sent once the requester has proved their own contact, so a stranger's typing alone sends
    nothing to the holder; only when the contact matched an account.
    """
    requester = requester_of(session, request)
    if requester is None or requester.relationship == DECEASED or request.subject_id is None:
        return
    if requester.holder_told_at is not None:
        return
    requester.holder_told_at = utcnow()
    holder = session.get(Subject, request.subject_id)
    lang = getattr(holder, "preferred_language", None)
    lang = lang if lang in ("zh-CN", "en") else outcomes.lang_of(request)
    notices.queue_to(
        session,
        request,
        "on_behalf_requested",
        channel=requester.subject_contact_kind,
        to=requester.subject_contact,
        language=lang,
        relationship=label(requester.relationship, lang),
        type_label=outcomes.type_label_in(request.type, lang),
    )
    audit.record(
        session,
        "request.holder_told",
        actor="system",
        request_id=request.id,
        subject_id=request.subject_id,
        details={"relationship": requester.relationship},
    )


def sniff(content: bytes) -> str | None:
    """The document type from its first bytes (PDF, PNG, JPEG), or None."""
    for content_type, magic in MAGIC.items():
        if content.startswith(magic):
            return content_type
    return None


def add_evidence(
    session: Session, request, *, kind: str, filename: str, content: bytes, actor: str
) -> Evidence:
    """Store one document sealed; 422 for a wrong kind or type, 409 once review is over."""
    requester = requester_of(session, request)
    if requester is None:
        raise Conflict("This request was made by the account holder; no evidence is needed.")
    if request.status not in ("pending_verification", "verified", "awaiting_review"):
        raise Conflict(
            "Evidence can be added only while the request waits for review.",
            slug="evidence-closed",
        )
    errors: dict = {}
    if kind not in RELATIONSHIPS[requester.relationship]["evidence"]:
        errors["kind"] = [f"One of {list(RELATIONSHIPS[requester.relationship]['evidence'])}."]
    content_type = sniff(content)
    if content_type is None:
        errors["file"] = ["A PDF, PNG or JPEG document."]
    elif len(content) > MAX_BYTES:
        errors["file"] = [f"At most {MAX_BYTES // (1024 * 1024)} MB."]
    if len([e for e in evidence_of(session, request.id) if e.deleted_at is None]) >= MAX_FILES:
        errors["file"] = [f"At most {MAX_FILES} documents per request."]
    if errors:
        raise Unprocessable(errors=errors)
    doc = Evidence(
        request_id=request.id,
        kind=kind,
        content_type=content_type,
        size=len(content),
        uploaded_by=actor,
    )
    session.add(doc)
    session.flush()
    doc.filename = (filename or "document")[:200]
    doc.body = base64.b64encode(content).decode()
    audit.record(
        session,
        "request.evidence_added",
        actor=actor,
        request_id=request.id,
        subject_id=request.subject_id,
        details={"evidence_id": doc.id, "kind": kind, "content_type": content_type},
    )
    return doc


def record_check(
    session: Session, request, *, outcome: str, method: str, note: str, actor: str
) -> Requester:
    """The team's verdict on the requester's evidence (accepted or rejected), with how and why."""
    requester = requester_of(session, request)
    errors: dict = {}
    if outcome not in (ACCEPTED, REJECTED):
        errors["outcome"] = ["accepted or rejected."]
    if method not in CHECK_METHODS:
        errors["method"] = [f"One of {list(CHECK_METHODS)}."]
    if not note.strip():
        errors["note"] = ["Say what was checked."]
    if requester is None:
        raise Conflict("This request was made by the account holder; nothing to check.")
    if request.status not in ("pending_verification", "verified", "awaiting_review"):
        raise Conflict("The request was decided; its check stands.", slug="evidence-closed")
    if errors:
        raise Unprocessable(errors=errors)
    requester.evidence_status = outcome
    requester.check_method = method
    requester.check_note = note.strip()[:5000]
    requester.checked_by = actor
    requester.checked_at = utcnow()
    audit.record(
        session,
        "request.evidence_checked",
        actor=actor,
        request_id=request.id,
        subject_id=request.subject_id,
        fields=["check_note"],
        details={"outcome": outcome, "method": method},
    )
    return requester


def require_accepted(session: Session, request) -> None:
    """No approval of an on-behalf request before the team accepted the evidence (409)."""
    requester = requester_of(session, request)
    if requester is None:
        return
    if request.subject_id is None:
        raise Conflict(
            "No account matches the contact the requester gave; refuse the request.",
            slug="on-behalf-unmatched",
        )
    if requester.evidence_status != ACCEPTED:
        raise Conflict(
            "Check and accept the requester's evidence before approving.",
            slug="evidence-not-accepted",
        )


def purge_evidence(session: Session, *, days: int, now: dt.datetime | None = None) -> int:
    """Delete the documents of requests closed more than ``days`` ago; returns how many.

    The row stays (kind, size, when) so the request page still says what was checked.
    """
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    docs = session.scalars(
        select(Evidence)
        .join(DataRequest, DataRequest.id == Evidence.request_id)
        .where(Evidence.deleted_at.is_(None), DataRequest.closed_at < cutoff)
        .limit(1000)
    ).all()
    for doc in docs:
        doc.body_enc = None
        doc.filename_enc = None
        doc.deleted_at = utcnow()
        audit.record(
            session,
            "request.evidence_deleted",
            actor="system",
            request_id=doc.request_id,
            details={"evidence_id": doc.id, "reason": "retention"},
        )
    return len(docs)
