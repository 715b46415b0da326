"""Declaring an encrypted attribute on a model in one line.

    class Subject(Base):
        email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
        email = Encrypted("email_enc")                       # owner: the row itself

    class IdentityDocument(Base):
        id_number = Encrypted("id_number_enc", owner="subject_id")

Code reads and writes ``subject.email`` as plaintext; the database only ever holds the envelope
in ``email_enc``, sealed under the owner's data key and bound to the table, column and row id.
The row must be in a session before an encrypted attribute is set (the owner's key is found or
minted in that session's transaction).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import object_session

from privacy_service.crypto.vault import current_vault


class Encrypted:
    """A plaintext view over an envelope column. ``as_json`` stores any JSON value.

    ``owner`` names the attribute holding the owner id (default ``id``: the row owns its key);
    ``owner_kind`` is recorded with a newly minted key.
    """

    def __init__(
        self, column: str, *, owner: str = "id", owner_kind: str = "subject", as_json: bool = False
    ):
        self.column = column
        self.owner = owner
        self.owner_kind = owner_kind
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
        text = current_vault().open(
            object_session(obj), bytes(envelope), owner.__tablename__, self.column, obj.id
        )
        return json.loads(text) if self.as_json else text

    def __set__(self, obj, value: Any) -> None:
        if value is None:
            setattr(obj, self.column, None)
            return
        session = object_session(obj)
        if session is None or obj.id is None:
            raise RuntimeError(
                f"add the {type(obj).__name__} to a session before setting {self.name}"
            )
        text = json.dumps(value, ensure_ascii=False) if self.as_json else str(value)
        envelope = current_vault().seal(
            session,
            getattr(obj, self.owner),
            text,
            type(obj).__tablename__,
            self.column,
            obj.id,
            owner_kind=getattr(obj, "key_owner_kind", self.owner_kind),
        )
        setattr(obj, self.column, envelope)
