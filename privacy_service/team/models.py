"""What the dashboard keeps of its own: notes, saved views, reply templates, report figures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.crypto.fields import Encrypted
from privacy_service.db import ID, Base, UTCDateTime, utcnow


class RequestNote(Base):
    """A note by the team on a request; never shown to the customer.

    Sealed under the request's key owner (the customer's data key): shredding the customer makes
    notes about them unreadable too.
    """

    __tablename__ = "request_notes"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key_owner: Mapped[str] = mapped_column(ID, nullable=False)
    author_id: Mapped[str] = mapped_column(ID, nullable=False)
    # "note" (internal) or "question" (asked of the customer, sent through the request's channel).
    kind: Mapped[str] = mapped_column(String(12), nullable=False, default="note")
    body_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    body = Encrypted("body_enc", owner="key_owner")


class SavedView(Base):
    """A staff member's named queue filter (the query string of the queue page, no search)."""

    __tablename__ = "saved_views"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    staff_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    query: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ReplyTemplate(Base):
    """A refusal reason the team picks from, in both languages; edited by admins.

    Built-in templates (``request_page.REFUSAL_TEMPLATES``) apply until a row with the same key
    replaces them; new keys add templates.
    """

    __tablename__ = "reply_templates"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    zh: Mapped[str] = mapped_column(Text, nullable=False)
    en: Mapped[str] = mapped_column(Text, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(120), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ReportReceived(Base):
    """Requests received on a local day, per type."""

    __tablename__ = "report_received"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class ReportClosed(Base):
    """Requests closed on a local day, per type and final status; how many by their due date."""

    __tablename__ = "report_closed"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(24), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)
    on_time: Mapped[int] = mapped_column(Integer, nullable=False)


class ReportCloseDays(Base):
    """Requests closed on a local day, by working days taken (the median and p90 of a period)."""

    __tablename__ = "report_close_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    working_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class ReportState(Base):
    """One row: when the figures were last refreshed, from which change on, on which calendar."""

    __tablename__ = "report_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    watermark: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    calendar: Mapped[str | None] = mapped_column(String(64))
