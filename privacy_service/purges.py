"""The record of each retention pass (written by ``retention.engine``).

``status`` is ``running`` while a process executes it (``holder``, refreshed ``heartbeat_at``),
then ``done``, ``failed`` (a rule raised; the others ran) or ``interrupted`` (its process died;
``counts`` then says what it had removed, batch by batch, before it died).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.db import ID, Base, UTCDateTime


class PurgeRun(Base):
    """One pass of the retention engine (or a dry run)."""

    __tablename__ = "purge_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    counts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    errors: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    seconds: Mapped[float | None] = mapped_column(Float)
    holder: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
