"""History of corrections: what a field held before an approved correction, and who approved it.

The shop's privacy notice says "when you update information, we usually keep a copy of the
original". Each approved correction keeps one record per changed row: the previous and the new
value sealed under the customer's data key, where they were (category, table, record, field), and
who approved the change and when. The records are a category of their own in the data map
(``corrections_history``, in the vault source), so exports show them; deletion and closure remove
them together with the data they came from (``retention/erasure.py``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.crypto.fields import Encrypted
from privacy_service.db import ID, Base, UTCDateTime, utcnow


class CorrectionRecord(Base):
    """One changed field of one row, with its previous value sealed."""

    __tablename__ = "correction_history"
    __table_args__ = (Index("ix_correction_history_subject", "subject_id", "corrected_category"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), nullable=False)
    request_id: Mapped[str] = mapped_column(ID, nullable=False)
    corrected_category: Mapped[str] = mapped_column(String(40), nullable=False)
    corrected_table: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    field: Mapped[str] = mapped_column(String(64), nullable=False)
    old_value_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    new_value_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    approved_by: Mapped[str] = mapped_column(String(120), nullable=False)
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    old_value = Encrypted("old_value_enc", owner="subject_id")
    new_value = Encrypted("new_value_enc", owner="subject_id")
