"""The last failure of a request's background task, shown to the privacy team."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.db import Base, UTCDateTime


class TaskFailure(Base):
    """One request's failing task of one kind: attempts so far, the error type, whether final.

    Only the exception's type is kept (its message may quote personal data). A row is removed
    when the task succeeds or staff retry it.
    """

    __tablename__ = "task_failures"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str] = mapped_column(String(200), nullable=False)
    permanent: Mapped[bool] = mapped_column(Boolean, nullable=False)
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
