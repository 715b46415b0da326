"""The demo shop's customers in the service's directory."""

from __future__ import annotations

from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.subjects.directory import find_by_contact, register

DEMO_EMAIL = "demo@example.com"
DEMO_PHONE = "13800138000"
DEMO_NAME = "张伟"


def seed(session: Session) -> bool:
    """Register the demo customer once; returns False when already present."""
    if find_by_contact(session, "email", DEMO_EMAIL) is not None:
        return False
    subject = register(
        session, email=DEMO_EMAIL, phone=DEMO_PHONE, name=DEMO_NAME, external_ref="demo-0001"
    )
    session.flush()
    audit.record(
        session,
        "subject.registered",
        actor="cli:demo-seed",
        subject_id=subject.id,
        fields=["email", "phone", "name"],
    )
    return True
