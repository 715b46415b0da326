"""The queue's filters, sort orders and search, as SQL conditions (used by pages and exports)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from sqlalchemy import Select, and_, false, func, or_, select, tuple_
from sqlalchemy.orm import Session

from privacy_service.crypto.normalize import InvalidValue
from privacy_service.db import is_uuid
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.directory import find_by_contact
from privacy_service.subjects.identity import IdentityDocument

PAGE_SIZES = (25, 50, 100, 200)
# Each order ends with the id (a total order, so keyset pages neither skip nor repeat rows) and
# has an index for the open requests and one for all (requests/models.py). The assignee sorts
# by the member's e-mail ("" for nobody, first), copied onto the request at assignment.
SORTS = {
    "due": (DataRequest.due_date, DataRequest.id),
    "received": (DataRequest.received_at, DataRequest.id),
    "type": (DataRequest.type, DataRequest.due_date, DataRequest.id),
    "status": (DataRequest.status, DataRequest.due_date, DataRequest.id),
    "assignee": (DataRequest.assignee_sort, DataRequest.due_date, DataRequest.id),
}
# Counts stop here: a filter over a million requests is counted up to this and shown as
# "1,000+" (reading at most this many index entries), never by reading every match. A page
# counts six filters (its own and the five built-in views): at 10,000 each, a cold page spent
# ~60 ms of a loaded machine in counts alone.
COUNT_CAP = 1_000
# A short id: the first characters of a request id (at least 8 hex digits, dashes where the
# full id has them).
_SHORT_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{0,4}){0,3}(-[0-9a-f]{0,12})?$")


def open_requests():
    """Requests not yet closed."""
    return DataRequest.status.not_in(lifecycle.TERMINAL)


def due_within_limit(calendar, today: dt.date, days: int) -> dt.date:
    """The first due date *beyond* ``days`` working days left.

    A request has ``days`` left when its due date is the ``days``-th working day after today, or a
    day off after it; it is "due within N" when its due date comes before the (N+1)-th working
    day — the same count the queue's coloured tag shows.
    """
    return calendar.add_working_days(today, days + 1).due_date


def plain_number(value: str) -> bool:
    """ASCII digits only, and short ("²".isdigit() is true, but int() refuses it)."""
    return value.isascii() and value.isdigit() and len(value) <= 9


@dataclasses.dataclass
class QueueFilter:
    """What the queue shows: the parsed, validated query string (unknown values are ignored)."""

    type: str = ""
    status: str = ""
    all: bool = False
    due_within: int | None = None
    overdue: bool = False
    assignee: str = ""  # "", "me", "none", or a staff id
    waiting: bool = False
    customer: str = ""  # a request id: every request of that request's customer
    sort: str = "due"
    desc: bool = False
    size: int = 50
    page: int = 1  # the page's number, as shown; where it starts is ``after`` / ``before``
    after: str = ""  # a request id: this page starts after that request (keyset)
    before: str = ""  # a request id: this page ends before that request (going back)

    @classmethod
    def parse(cls, args) -> QueueFilter:
        """From the page's query arguments."""
        f = cls()
        if args.get("type") in REQUEST_TYPES:
            f.type = args["type"]
        if args.get("status") in lifecycle.STATUSES:
            f.status = args["status"]
        f.all = bool(args.get("all"))
        within = args.get("due_within", "").strip()
        if plain_number(within) and int(within) <= 365:
            f.due_within = int(within)
        f.overdue = bool(args.get("overdue"))
        assignee = args.get("assignee", "")
        if assignee in ("me", "none") or is_uuid(assignee):
            f.assignee = assignee
        f.waiting = bool(args.get("waiting"))
        if is_uuid(args.get("customer", "")):
            f.customer = args["customer"]
            f.all = True
        if args.get("sort") in SORTS:
            f.sort = args["sort"]
        f.desc = args.get("dir") == "desc"
        if plain_number(args.get("size", "")) and int(args["size"]) in PAGE_SIZES:
            f.size = int(args["size"])
        if plain_number(args.get("page", "")):
            f.page = min(max(1, int(args["page"])), 10_000)
        if is_uuid(args.get("after", "")):
            f.after = args["after"]
        elif is_uuid(args.get("before", "")):
            f.before = args["before"]
        return f

    def args(self) -> dict:
        """Back to query arguments (defaults left out), for links."""
        out = {
            "type": self.type,
            "status": self.status,
            "all": "1" if self.all else "",
            "due_within": "" if self.due_within is None else str(self.due_within),
            "overdue": "1" if self.overdue else "",
            "assignee": self.assignee,
            "waiting": "1" if self.waiting else "",
            "customer": self.customer,
            "sort": "" if self.sort == "due" else self.sort,
            "dir": "desc" if self.desc else "",
            "size": "" if self.size == 50 else str(self.size),
            "page": "" if self.page == 1 else str(self.page),
            "after": self.after,
            "before": self.before,
        }
        return {k: v for k, v in out.items() if v}

    def conditions(self, me_id: str, today: dt.date, calendar) -> list:
        """SQL conditions for this filter."""
        where = []
        if self.type:
            where.append(DataRequest.type == self.type)
        if self.status:
            where.append(DataRequest.status == self.status)
        elif not self.all:
            where.append(open_requests())
        if self.due_within is not None:
            where.append(DataRequest.due_date < due_within_limit(calendar, today, self.due_within))
        if self.overdue:
            where += [open_requests(), DataRequest.due_date < today]
        if self.assignee == "me":
            where.append(DataRequest.assignee_id == me_id)
        elif self.assignee == "none":
            where.append(DataRequest.assignee_id.is_(None))
        elif self.assignee:
            where.append(DataRequest.assignee_id == self.assignee)
        if self.waiting:
            where.append(DataRequest.waiting_since.is_not(None))
        if self.customer:
            of = select(DataRequest.subject_id).where(DataRequest.id == self.customer)
            where.append(DataRequest.subject_id == of.scalar_subquery())
        return where

    def order(self) -> list:
        """ORDER BY columns."""
        columns = SORTS[self.sort]
        return [c.desc() for c in columns] if self.desc else list(columns)


def search(session: Session, vault, query: str):
    """A condition matching a request id (full or its first characters), or a customer.

    An e-mail, phone or ID number finds the customer it belongs to and then every request of
    theirs, whichever contact each request was made with; requests made by someone who is not a
    customer match on the contact itself (blind index).
    """
    query = query.strip()
    lowered = query.lower()
    if is_uuid(lowered):
        return DataRequest.id == lowered
    prefix = id_prefix(lowered)
    if prefix is not None:
        return prefix
    for kind in ("email", "phone"):
        try:
            bidx = vault.blind_index(kind, query)
        except InvalidValue:
            continue
        try:
            subject = find_by_contact(session, kind, query)
        except InvalidValue:
            subject = None
        if subject is not None:
            return or_(DataRequest.subject_id == subject.id, DataRequest.contact_bidx == bidx)
        return DataRequest.contact_bidx == bidx
    try:
        bidx = vault.blind_index("id_number", query)
    except InvalidValue:
        return false()
    subjects = select(IdentityDocument.subject_id).where(IdentityDocument.id_number_bidx == bidx)
    return DataRequest.subject_id.in_(subjects)


def id_prefix(text: str):
    """A condition on the request ids starting with ``text`` (8+ hex digits), or None."""
    return _id_range(text.rstrip("-")) if _SHORT_ID.match(text) else None


def _id_range(prefix: str):
    # A range on the primary key (an index range scan), not LIKE: ids are lower-case hex with
    # dashes, so every id starting with ``prefix`` sorts from it up to its successor (the prefix
    # plus one in hexadecimal, carrying over dashes).
    chars = list(prefix)
    i = len(chars) - 1
    while i >= 0 and chars[i] in "-f":
        if chars[i] == "f":
            chars[i] = "0"
        i -= 1
    if i < 0:
        return DataRequest.id >= prefix
    chars[i] = "a" if chars[i] == "9" else chr(ord(chars[i]) + 1)
    return and_(DataRequest.id >= prefix, DataRequest.id < "".join(chars))


def _capped(conditions: list, cap: int):
    matching = select(DataRequest.id).where(*conditions).limit(cap + 1).subquery()
    return select(func.count()).select_from(matching)


def count(session: Session, conditions: list, cap: int | None = None) -> int:
    """How many requests match, counting at most ``cap + 1`` (more than ``cap``: ``cap + 1``)."""
    cap = COUNT_CAP if cap is None else cap
    return session.scalar(_capped(conditions, cap)) or 0


def counts(session: Session, wanted: dict, cap: int | None = None) -> dict:
    """``count`` of each filter of ``{key: conditions}``, all in one statement."""
    cap = COUNT_CAP if cap is None else cap
    keys = list(wanted)
    row = session.execute(select(*(_capped(wanted[k], cap).scalar_subquery() for k in keys))).one()
    return {k: v or 0 for k, v in zip(keys, row, strict=True)}


def count_label(n: int, cap: int | None = None) -> str:
    """A count as shown: ``987``, or ``1,000+`` past the cap."""
    cap = COUNT_CAP if cap is None else cap
    return f"{cap:,}+" if n > cap else f"{n:,}"


def _keyset(session: Session, f: QueueFilter):
    """The condition placing this page after (or before) its anchor request; whether backwards.

    None when there is no anchor, or it no longer exists (the page starts at the top).
    """
    anchor = f.after or f.before
    if not anchor:
        return None, False
    columns = SORTS[f.sort]
    values = session.execute(select(*columns).where(DataRequest.id == anchor)).first()
    if values is None:
        return None, False
    key, mark = tuple_(*columns), tuple(values)
    forward = bool(f.after)
    # Rows after the anchor in the page's order: greater ascending, smaller descending.
    return (key > mark if forward != f.desc else key < mark), not forward


def page_of(session: Session, stmt: Select, f: QueueFilter) -> tuple[list, bool, bool]:
    """One page of the statement's rows; whether there are rows after it, and before it.

    Pages go by keyset: "next" starts after the last row's sort key (``after``), "previous"
    ends before the first row's (``before``), so a deep page costs what the first does. A page
    number without an anchor (an old link) falls back to an offset.
    """
    condition, backwards = _keyset(session, f)
    order = f.order()
    if condition is None:
        offset = (f.page - 1) * f.size if not (f.after or f.before) else 0
        rows = session.scalars(stmt.order_by(*order).offset(offset).limit(f.size + 1)).all()
        return rows[: f.size], len(rows) > f.size, offset > 0
    if backwards:
        reverse = [c.asc() if f.desc else c.desc() for c in SORTS[f.sort]]
        rows = session.scalars(stmt.where(condition).order_by(*reverse).limit(f.size + 1)).all()
        return list(reversed(rows[: f.size])), True, len(rows) > f.size
    rows = session.scalars(stmt.where(condition).order_by(*order).limit(f.size + 1)).all()
    return rows[: f.size], len(rows) > f.size, True
