"""What the request page shows of a requester on someone else's behalf, and their evidence.

The requester's name and contacts stay masked until an audited reveal (``behalf_pages.py``).
"""

from __future__ import annotations

from privacy_service.crypto.normalize import mask
from privacy_service.requests import behalf


def requester_context(session, r, *, revealed: bool = False) -> dict:
    """What the request page shows of the requester and their evidence (empty for the holder)."""
    requester = behalf.requester_of(session, r)
    if requester is None:
        return {"requester": None}
    try:
        if revealed:
            name = requester.name or "—"
            contact, account_contact = r.contact, requester.subject_contact
        else:
            name = (requester.name or "—")[:1] + "**" if requester.name else "—"
            contact = mask(r.contact_kind, r.contact)
            account_contact = mask(requester.subject_contact_kind, requester.subject_contact)
        note = requester.check_note if revealed else None
    except Exception:  # a key destroyed with the account: the record stays, unreadable
        name = contact = account_contact = "（已销毁 destroyed）"
        note = None
    return {
        "requester": requester,
        "requester_shown": {
            "name": name,
            "contact": contact,
            "account_contact": account_contact,
            "check_note": note,
            "revealed": revealed,
        },
        "evidence": behalf.evidence_of(session, r.id),
        "evidence_kinds": behalf.EVIDENCE_KINDS,
        "check_methods": behalf.CHECK_METHODS,
    }
