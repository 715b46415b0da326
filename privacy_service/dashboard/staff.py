"""Staff accounts: Argon2id passwords, optional TOTP, roles, lock-out after repeated failures."""

from __future__ import annotations

import datetime as dt

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Integer, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit
from privacy_service.crypto.fields import Encrypted
from privacy_service.db import ID, Base, UTCDateTime, utcnow

ROLES = ("agent", "admin", "auditor")
MAX_FAILURES = 5
LOCK_MINUTES = 15
_hasher = PasswordHasher()  # Argon2id with the library's recommended parameters


class StaffUser(Base):
    """A member of the privacy team."""

    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    totp_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    totp_secret = Encrypted("totp_enc", owner_kind="staff")


def create(
    session: Session, *, email: str, role: str, password: str, totp: bool = False
) -> StaffUser:
    """A new staff account; returns it (with ``totp_secret`` set when asked for)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if len(password) < 12:
        raise ValueError("a staff password has at least 12 characters")
    email = email.strip().lower()
    taken = ValueError(f"a staff account with the e-mail {email} already exists")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise taken  # before hashing: nothing secret is ever near this error
    user = StaffUser(email=email, role=role, password_hash=_hasher.hash(password))
    session.add(user)
    if totp:
        user.totp_secret = pyotp.random_base32()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Created at the same moment elsewhere. The driver's message would quote the row
        # (with its hash): drop it, and the chained exception with it.
        session.expunge(user)
        raise taken from None
    audit.record(session, "staff.created", actor="cli", details={"staff_id": user.id, "role": role})
    return user


def authenticate(session: Session, email: str, password: str, code: str | None) -> StaffUser | None:
    """The user if the password (and TOTP code, when enrolled) are right and not locked out.

    Failures count towards a lock-out; every attempt is audited (never the password).
    """
    now = utcnow()
    user = session.scalars(
        select(StaffUser).where(StaffUser.email == email.strip().lower())
    ).first()
    if user is None:
        _hasher.hash(
            password
        )  # same work as a real check: no timing hint that the email is unknown
        audit.record(
            session, "staff.login_failed", actor="anonymous", details={"reason": "unknown"}
        )
        return None
    if user.locked_until and user.locked_until > now:
        audit.record(
            session, "staff.login_failed", actor=f"staff:{user.id}", details={"reason": "locked"}
        )
        return None
    ok = _password_ok(user, password)
    if ok and user.totp_enc is not None:
        ok = bool(code) and pyotp.TOTP(user.totp_secret).verify(code, valid_window=1)
    if not ok:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        audit.record(
            session,
            "staff.login_failed",
            actor=f"staff:{user.id}",
            details={"reason": "credentials"},
        )
        return None
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    audit.record(session, "staff.login", actor=f"staff:{user.id}")
    return user


def _password_ok(user: StaffUser, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True
