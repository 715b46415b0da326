"""Staff accounts: Argon2id passwords, optional TOTP, roles, throttled failures, locks."""

from __future__ import annotations

import datetime as dt
import secrets

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Integer, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from privacy_service import audit, budgets
from privacy_service.crypto.fields import Encrypted
from privacy_service.db import ID, Base, UTCDateTime, utcnow
from privacy_service.team import sessions

ROLES = ("agent", "admin", "auditor")
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
    # Set by an admin: a disabled account cannot sign in; sessions started before
    # ``sessions_revoked_at`` are ended on their next page (force sign-out).
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sessions_revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    totp_secret = Encrypted("totp_enc", owner_kind="staff")


def create(
    session: Session,
    *,
    email: str,
    role: str,
    password: str,
    totp: bool = False,
    actor: str = "cli",
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
    audit.record(session, "staff.created", actor=actor, details={"staff_id": user.id, "role": role})
    return user


def authenticate(session: Session, email: str, password: str, code: str | None) -> StaffUser | None:
    """The user if the password (and TOTP code, when enrolled) are right and sign-in is allowed.

    Failed attempts are throttled per (account, IP) and, as a high ceiling, per account (in the
    rate-limit store, ``budgets.py``): a stranger cannot lock a member out from their own
    address. Every failure does the same work, one Argon2 verification, so neither an unknown
    e-mail nor a throttled or locked account answers faster. Every attempt is audited (never
    the password).
    """
    now = utcnow()
    email = email.strip().lower()[:254]
    account = budgets.account_key(email)
    user = session.scalars(select(StaffUser).where(StaffUser.email == email)).first()
    allowed = budgets.check_login(account)
    ok = _password_ok(user, password)  # always: same time whatever else is wrong
    if ok and user is not None and user.totp_enc is not None:
        ok = bool(code) and pyotp.TOTP(user.totp_secret).verify(code, valid_window=1)
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    if user is None or not allowed or locked or not ok:
        budgets.count_login_failure(account)
        reason = (
            "unknown"
            if user is None
            else "locked"
            if locked
            else "throttled"
            if not allowed
            else "credentials"
        )
        audit.record(
            session,
            "staff.login_failed",
            actor=f"staff:{user.id}" if user else "anonymous",
            details={"reason": reason},
        )
        return None
    user.failed_logins, user.last_login_at = 0, now
    audit.record(session, "staff.login", actor=f"staff:{user.id}")
    return user


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    # A real Argon2id hash of nothing anyone knows, to verify against for unknown e-mails.
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(_hasher.hash(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def lock(session: Session, user: StaffUser, *, actor: str, minutes: int | None = None) -> None:
    """Lock an account (for ``minutes``, or until unlocked) and end its sessions at once."""
    until = dt.datetime.max.replace(tzinfo=dt.UTC) if minutes is None else utcnow()
    if minutes is not None:
        until += dt.timedelta(minutes=minutes)
    user.locked_until = until
    ended = sessions.end_all(session, user.id)
    audit.record(
        session, "staff.locked", actor=actor, details={"staff_id": user.id, "ended": ended}
    )


def unlock(session: Session, user: StaffUser, *, actor: str) -> None:
    """Lift a lock."""
    user.locked_until = None
    audit.record(session, "staff.unlocked", actor=actor, details={"staff_id": user.id})


def set_role(session: Session, user: StaffUser, role: str, *, actor: str) -> None:
    """Change the role; the member signs in again (every session ends now)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    old, user.role = user.role, role
    ended = sessions.end_all(session, user.id)
    audit.record(
        session,
        "staff.role_changed",
        actor=actor,
        details={"staff_id": user.id, "from": old, "to": role, "ended": ended},
    )


def set_password(session: Session, user: StaffUser, password: str, *, actor: str) -> None:
    """Change the password; every session of the member ends now."""
    if len(password) < 12:
        raise ValueError("a staff password has at least 12 characters")
    user.password_hash = _hasher.hash(password)
    ended = sessions.end_all(session, user.id)
    audit.record(
        session,
        "staff.password_changed",
        actor=actor,
        details={"staff_id": user.id, "ended": ended},
    )


def _password_ok(user: StaffUser | None, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password[:1024])
    except (VerificationError, InvalidHashError):
        return False
    if user is None:
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def _changed(session: Session, user: StaffUser, change: str, actor: str, end_sessions: bool):
    # Sessions started before now are refused on their next page, and the open ones end now.
    if end_sessions:
        user.sessions_revoked_at = utcnow()
        sessions.end_all(session, user.id)
    audit.record(
        session, "staff.changed", actor=actor, details={"staff_id": user.id, "change": change}
    )


def disable(session: Session, user: StaffUser, *, actor: str) -> None:
    """Disable an account: it cannot sign in, and its sessions end at once (caller commits)."""
    user.disabled_at = utcnow()
    _changed(session, user, "disabled", actor, end_sessions=True)


def enable(session: Session, user: StaffUser, *, actor: str) -> None:
    """Enable a disabled account again, with a clean slate of failed sign-ins."""
    user.disabled_at = None
    user.failed_logins, user.locked_until = 0, None
    _changed(session, user, "enabled", actor, end_sessions=False)


def reset_second_factor(session: Session, user: StaffUser, *, actor: str) -> str:
    """A new authenticator secret; returns its enrolment URI (show it once). Sessions end."""
    user.totp_secret = pyotp.random_base32()
    _changed(session, user, "second_factor_reset", actor, end_sessions=True)
    return enrolment_uri(user)


def sign_out(session: Session, user: StaffUser, *, actor: str) -> None:
    """End every open session of a member."""
    _changed(session, user, "signed_out", actor, end_sessions=True)


def enrolment_uri(user: StaffUser) -> str:
    """The ``otpauth://`` URI an authenticator app enrols from (shown once, never stored)."""
    return pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=user.email, issuer_name="privacy-service"
    )


def by_email(session: Session, email: str) -> StaffUser | None:
    """The account with this e-mail (compared trimmed and in lower case), if any."""
    return session.scalars(
        select(StaffUser).where(StaffUser.email == email.strip().lower())
    ).first()
