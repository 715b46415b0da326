"""One-time codes: 6 digits from a CSPRNG, stored only as a keyed hash, expiring, 5 attempts.

Every request gets a code record, including requests whose contact belongs to no customer (their
code is never sent). So the answers, counters and timings of verify and resend are the same
whether or not an account exists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import case, or_, update
from sqlalchemy.orm import Session

from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest, Verification

if TYPE_CHECKING:
    from privacy_service.runtime import Runtime

CODE_DIGITS = 6


def new_code() -> str:
    """Six decimal digits from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(key: bytes, request_id: str, code: str) -> str:
    """Keyed hash of a code, bound to its request (a 6-digit space is too small for a bare hash)."""
    return hmac.new(key, f"otp:{request_id}:{code}".encode(), hashlib.sha256).hexdigest()


@dataclasses.dataclass(frozen=True)
class OtpPolicy:
    """Limits from settings."""

    ttl_seconds: int
    max_attempts: int
    resend_cooldown_seconds: int
    max_sends: int
    # Sends count in windows of this length: a customer who comes back the next day to sign in
    # again is not locked out by the codes of the day before.
    send_window_seconds: int = 86400


def start(request: DataRequest, key: bytes, policy: OtpPolicy) -> str:
    """Attach a fresh code record to a new request; returns the code (to send, or to discard)."""
    code = new_code()
    now = utcnow()
    request.verification = Verification(
        request_id=request.id,
        code_hash=code_hash(key, request.id, code),
        expires_at=now + dt.timedelta(seconds=policy.ttl_seconds),
        attempts=0,
        sends=1,
        last_sent_at=now,
        window_started_at=now,
        voided=False,
    )
    return code


def reissue(request: DataRequest, key: bytes, policy: OtpPolicy) -> str:
    """A fresh code for a request whose contact was just found to be a customer's.

    The code made at submission was never sent; this one is, with a full lifetime and attempts.
    """
    code = new_code()
    now = utcnow()
    record = request.verification
    record.code_hash = code_hash(key, request.id, code)
    record.expires_at = now + dt.timedelta(seconds=policy.ttl_seconds)
    record.attempts, record.voided, record.last_sent_at = 0, False, now
    return code


CORRECT, WRONG, EXPIRED, VOID = "correct", "wrong", "expired", "void"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of a code check, with how many attempts remain."""

    outcome: str
    attempts_left: int
    # False when no comparison was made (the code was already void): not a guess.
    compared: bool = True

    @property
    def wrong_guess(self) -> bool:
        """True when a code was compared and did not match."""
        return self.compared and self.outcome in (WRONG, VOID)


def check(
    session: Session, request: DataRequest, code: str, key: bytes, policy: OtpPolicy
) -> CheckResult:
    """Count an attempt atomically, then compare; at most ``max_attempts`` comparisons ever.

    The caller commits whatever the outcome, so that wrong attempts are never rolled back.
    """
    now = utcnow()
    counted = session.execute(
        update(Verification)
        .where(
            Verification.request_id == request.id,
            Verification.attempts < policy.max_attempts,
            Verification.voided.is_(False),
        )
        .values(attempts=Verification.attempts + 1)
        .returning(Verification.attempts, Verification.code_hash, Verification.expires_at)
    ).one_or_none()
    if counted is None:
        return CheckResult(VOID, 0, compared=False)
    attempts, stored_hash, expires_at = counted
    left = policy.max_attempts - attempts
    if expires_at <= now:
        return CheckResult(EXPIRED, left, compared=False)
    supplied = code_hash(key, request.id, code) if _looks_like_code(code) else "-"
    if not hmac.compare_digest(stored_hash, supplied):
        return CheckResult(WRONG if left > 0 else VOID, left)
    # A code works once.
    session.execute(
        update(Verification).where(Verification.request_id == request.id).values(voided=True)
    )
    return CheckResult(CORRECT, left)


def _looks_like_code(code: str) -> bool:
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


@dataclasses.dataclass(frozen=True)
class ResendResult:
    """A new code, or the seconds to wait before one can be sent."""

    code: str | None
    retry_after: int
    exhausted: bool = False


def resend(session: Session, request: DataRequest, key: bytes, policy: OtpPolicy) -> ResendResult:
    """Replace the code (new attempts, new expiry) unless in cool-down or out of sends.

    The cool-down applies only while the last code is still usable: once it was used (a
    verification) or voided, a new one may be sent at once, so a customer signing in again right
    after their first verification is not kept waiting. At most ``max_sends`` codes go out per
    send window.
    """
    now = utcnow()
    code = new_code()
    cooled = now - dt.timedelta(seconds=policy.resend_cooldown_seconds)
    window_over = Verification.window_started_at <= now - dt.timedelta(
        seconds=policy.send_window_seconds
    )
    row = session.execute(
        update(Verification)
        .where(
            Verification.request_id == request.id,
            or_(Verification.sends < policy.max_sends, window_over),
            or_(Verification.voided.is_(True), Verification.last_sent_at <= cooled),
        )
        .values(
            code_hash=code_hash(key, request.id, code),
            expires_at=now + dt.timedelta(seconds=policy.ttl_seconds),
            attempts=0,
            voided=False,
            sends=case((window_over, 1), else_=Verification.sends + 1),
            window_started_at=case((window_over, now), else_=Verification.window_started_at),
            last_sent_at=now,
        )
        .returning(Verification.sends)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is not None:
        return ResendResult(code, 0)
    current = session.get(Verification, request.id)
    session.refresh(current)
    window_open = current.window_started_at is None or current.window_started_at > now - (
        dt.timedelta(seconds=policy.send_window_seconds)
    )
    if current.sends >= policy.max_sends and window_open:
        return ResendResult(None, 0, exhausted=True)
    wait = (current.last_sent_at - cooled).total_seconds()
    return ResendResult(None, max(1, int(wait) + 1))


def otp_policy(rt: Runtime) -> OtpPolicy:
    """One-time-code limits from settings."""
    s = rt.settings
    return OtpPolicy(
        ttl_seconds=s.otp_ttl_seconds,
        max_attempts=s.otp_max_attempts,
        resend_cooldown_seconds=s.otp_resend_cooldown_seconds,
        max_sends=s.otp_max_sends,
        send_window_seconds=s.otp_send_window_seconds,
    )


def otp_key(rt: Runtime) -> bytes:
    """The key one-time codes are hashed under (the vault's index key)."""
    return rt.vault.keyring.index_key
