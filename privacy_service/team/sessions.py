"""Server-side staff sessions: the cookie carries a random id, the database holds the session.

Because the server keeps the session, ending it is immediate and complete: signing out, an
administrator locking the account, a role change and a password change delete the rows, and a
saved copy of the cookie opens nothing afterwards. A session ends by itself after 30 minutes
without a request, and 12 hours after sign-in whatever happens.

Only a SHA-256 of the id is stored, so a copy of the table does not yield usable cookies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from privacy_service.db import ID, Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from privacy_service.team.accounts import StaffUser

IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
# Record activity at most once a minute (a write per page view would be wasted work).
TOUCH_EVERY = dt.timedelta(seconds=60)


class StaffSession(Base):
    """One signed-in browser of a staff member."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's id
    staff_id: Mapped[str] = mapped_column(
        ID, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # Named, not imported: accounts end sessions, so sessions do not import accounts.
    user: Mapped[StaffUser] = relationship("StaffUser", lazy="select")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: StaffUser) -> str:
    """A new session for ``user``; returns the id to put in the cookie (caller commits)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(StaffSession(id=_digest(token), staff_id=user.id, created_at=now, last_seen_at=now))
    return token


def resume(session: Session, token: str | None) -> StaffUser | None:
    """The signed-in user for this cookie's id, or None (unknown, ended, idle or too old).

    Commits when it records activity or removes an expired session.
    """
    if not token or not isinstance(token, str) or len(token) > 100:
        return None
    row = session.get(StaffSession, _digest(token))
    if row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at > IDLE or now - row.created_at > ABSOLUTE:
        session.delete(row)
        session.commit()
        return None
    user = row.user
    if user is None or (user.locked_until is not None and user.locked_until > now):
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return user


def end(session: Session, token: str | None) -> None:
    """End one session (sign-out); caller commits."""
    if token and isinstance(token, str):
        session.execute(delete(StaffSession).where(StaffSession.id == _digest(token)))


def end_all(session: Session, staff_id: str) -> int:
    """End every session of a staff member (lock, role or password change); caller commits."""
    return session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id)).rowcount


def active(session: Session, staff_id: str) -> int:
    """How many live sessions a staff member has (for the CLI's messages and tests)."""
    since = utcnow() - IDLE
    return len(
        session.scalars(
            select(StaffSession.id).where(
                StaffSession.staff_id == staff_id, StaffSession.last_seen_at > since
            )
        ).all()
    )
