"""Declaring an encrypted attribute on a model in one line.

    class Subject(Base):
        email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
        email = Encrypted("email_enc")

Code reads and writes ``subject.email`` as plaintext; the database only ever holds the envelope
in ``email_enc``, bound to the table, the column and the row id.
"""

from __future__ import annotations

import json
from typing import Any

from privacy_service.crypto.vault import current_vault


class Encrypted:
    """A plaintext view over an envelope column. ``as_json`` stores any JSON value."""

    def __init__(self, column: str, *, as_json: bool = False):
        self.column = column
        self.as_json = as_json
        self.name = column

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None) -> Any:
        if obj is None:
            return self
        envelope = getattr(obj, self.column)
        if envelope is None:
            return None
        text = current_vault().open(bytes(envelope), owner.__tablename__, self.column, obj.id)
        return json.loads(text) if self.as_json else text

    def __set__(self, obj, value: Any) -> None:
        if value is None:
            setattr(obj, self.column, None)
            return
        if obj.id is None:
            raise RuntimeError("assign the row id before an encrypted attribute")
        text = json.dumps(value, ensure_ascii=False) if self.as_json else str(value)
        setattr(
            obj,
            self.column,
            current_vault().seal(text, type(obj).__tablename__, self.column, obj.id),
        )
