"""Per-contact budgets: wrong codes and codes sent, across every request of a contact.

A code has 5 tries, but a new request brings a new code; without a budget per contact, filing
requests for a victim buys unlimited guesses. So wrong codes are counted per contact across all
its requests, and codes sent are capped per contact (the victim's inbox is not a free resource).

Each budget is counted per (contact, IP) first and contact-wide only as a higher ceiling: one
caller cannot use up a customer's budget from their own address, only a spread-out attack can
reach the contact-wide ceiling. The API and the pages share the counts, so neither channel can
be used to lock a customer out of the other beyond what the (contact, IP) limit allows.

Contacts are named by their blind index (a keyed hash), never in plaintext. The counts live in
the rate-limit store (``PRIVACY_RATELIMIT_STORAGE_URL``). If that store is down, checks fail
closed with 503: a guess that cannot be counted is not made.

Budgets apply to callers of the web: the web layer tells who is calling (``install_caller``);
the CLI and jobs act for operators and are not counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator

from limits import RateLimitItem, parse_many
from limits.strategies import FixedWindowRateLimiter

from privacy_service.errors import Problem, TooManyRequests

log = logging.getLogger(__name__)


class StoreUnavailable(Problem):
    """The rate-limit store cannot be reached; the action is refused until it is back."""

    status, slug, title = 503, "unavailable", "Temporarily unavailable"

    def __init__(self, detail: str = "Try again in a minute."):
        super().__init__(detail, headers={"Retry-After": "30"})


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """A spent budget stays a 429; any failure of the counters' store is a 503, logged."""
    try:
        yield
    except TooManyRequests:
        raise
    except Exception as exc:
        log.error("rate-limit store unavailable", extra={"error_type": type(exc).__name__})
        raise StoreUnavailable() from exc


class Budgets:
    """The per-contact budgets of one app, in the limiter's store."""

    def __init__(self, storage, settings):
        self._limiter = FixedWindowRateLimiter(storage)
        self._storage = storage
        self._prefix = settings.ratelimit_key_prefix
        self.secret = settings.secret_key or ""  # keys the staff account counter names
        s = settings
        self.wrong_codes = (
            parse_many(s.ratelimit_wrong_codes_per_contact_ip),
            parse_many(s.ratelimit_wrong_codes_per_contact),
        )
        self.codes_sent = (
            parse_many(s.ratelimit_codes_per_contact_ip),
            parse_many(s.ratelimit_codes_per_contact),
        )
        self.login_failures = (
            parse_many(s.ratelimit_login_failures_per_account_ip),
            parse_many(s.ratelimit_login_failures_per_account),
        )

    def _counters(self, kind: str, limits, who: str, ip: str):
        per_ip, overall = limits
        for item in per_ip:
            yield item, (self._prefix, kind, who, ip)
        for item in overall:
            yield item, (self._prefix, kind, who, "*")

    def _retry_after(self, item: RateLimitItem, ids) -> int:
        reset = self._limiter.get_window_stats(item, *ids).reset_time
        return max(1, int(reset - time.time()) + 1)

    def check(self, kind: str, limits, who: str, ip: str) -> None:
        """Raise 429 when any counter of ``who`` is used up (counts nothing)."""
        with _store_errors():
            for item, ids in self._counters(kind, limits, who, ip):
                if not self._limiter.test(item, *ids):
                    raise _limited(self._retry_after(item, ids))

    def take(self, kind: str, limits, who: str, ip: str) -> list:
        """Count one against every counter of ``who``; 429 (and nothing kept) when over."""
        taken = []
        with _store_errors():
            for item, ids in self._counters(kind, limits, who, ip):
                taken.append((item, ids))
                if not self._limiter.hit(item, *ids):
                    self.give_back(taken)
                    raise _limited(self._retry_after(item, ids))
        return taken

    def give_back(self, taken: list) -> None:
        """Undo ``take`` (the action turned out not to count, e.g. the code was right)."""
        for item, ids in taken:
            key = item.key_for(*ids)
            with contextlib.suppress(Exception):
                if self._storage.get(key) > 0:
                    self._storage.incr(key, item.get_expiry(), amount=-1)


def _limited(retry_after: int) -> TooManyRequests:
    return TooManyRequests(
        "Too many attempts for this contact; try again later.",
        slug="rate-limited",
        headers={"Retry-After": str(retry_after)},
    )


def _no_caller() -> tuple[Budgets, str] | None:
    return None


# The budgets and client address of the web request being served (None outside one).
_current: Callable[[], tuple[Budgets, str] | None] = _no_caller


def install_caller(current: Callable[[], tuple[Budgets, str] | None]) -> None:
    """Say how to find the budgets and client address of the request being served."""
    global _current
    _current = current


def charge_code_sent(contact_bidx: str) -> None:
    """Count a code about to be sent (or, for unknown contacts, pretended to be): 429 when over.

    Counted whether or not the contact belongs to a customer, so the answers are the same.
    """
    found = _current()
    if found:
        budgets, ip = found
        budgets.take("codes", budgets.codes_sent, contact_bidx, ip)


@contextlib.contextmanager
def guess(contact_bidx: str) -> Iterator[Guess]:
    """Reserve one wrong-code from the contact's budget around a code check.

    The caller says ``g.wrong = False`` when the code was not compared wrongly (right, expired,
    void); that gives the reservation back. Reserving first keeps concurrent guesses honest.
    """
    found = _current()
    g = Guess()
    if not found:
        yield g
        return
    budgets, ip = found
    taken = budgets.take("wrong-codes", budgets.wrong_codes, contact_bidx, ip)
    try:
        yield g
    except BaseException:
        budgets.give_back(taken)
        raise
    if not g.wrong:
        budgets.give_back(taken)


class Guess:
    """Whether a code check counted as a wrong guess (set by the caller)."""

    wrong = True


def account_key(email: str) -> str:
    """A staff e-mail as a counter name: keyed hash, so the store never holds the address."""
    found = _current()
    secret = found[0].secret if found else ""
    digest = hmac.new(str(secret).encode(), email.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def check_login(account: str) -> bool:
    """False when failed sign-ins for ``account`` from this IP (or overall) are over budget."""
    found = _current()
    if not found:
        return True
    budgets, ip = found
    try:
        budgets.check("login-failures", budgets.login_failures, account, ip)
    except TooManyRequests:
        return False
    return True


def count_login_failure(account: str) -> None:
    """Count a failed sign-in for ``account`` from this IP."""
    found = _current()
    if found:
        budgets, ip = found
        with contextlib.suppress(TooManyRequests):
            budgets.take("login-failures", budgets.login_failures, account, ip)
