"""Declaring an encrypted attribute on a model in one line.

    class Subject(Base):
        email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
        email = Encrypted("email_enc")                       # owner: the row itself

    class IdentityDocument(Base):
        id_number = Encrypted("id_number_enc", owner="subject_id")

Code reads and writes ``subject.email`` as plaintext; the database only ever holds the envelope
in ``email_enc``, sealed under the owner's data key and bound to the table, column and row id.
The row must be in a session before an encrypted attribute is set (the owner's key is found or
minted in that session's transaction). The keys are those of the app that made the session
(``vault_of``); a row keeps a reference to that vault, so it still reads once its session closed.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import object_session

from privacy_service.crypto.vault import Vault, vault_of
from privacy_service.db import VAULT_KEY

# Where a row keeps the vault of the session that loaded or sealed it (not a mapped column).
_VAULT = "_privacy_vault"
# Classes with an encrypted attribute, whose loads are already being listened to.
_LISTENING: weakref.WeakSet[type] = weakref.WeakSet()


def _remember_vault(state, context) -> None:
    # A loaded row remembers its app's vault: read after its session closed (objects outlive
    # their session, expire_on_commit=False), it opens with the same keys. (``state.dict`` is
    # the row's ``__dict__``; a raw listener skips dereferencing the row once per load.)
    vault = context.session.info.get(VAULT_KEY)
    if vault is not None:
        state.dict[_VAULT] = vault


def _detached_vault(obj) -> Vault:
    """The vault a row in no session remembered (see ``_remember_vault``)."""
    vault = obj.__dict__.get(_VAULT)
    if vault is None:
        raise RuntimeError(
            f"this {type(obj).__name__} is in no session of an app: no vault to open it with"
        )
    return vault


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
        if owner not in _LISTENING:  # one listener per class (it may have several such columns)
            # The class is not mapped yet: SQLAlchemy holds the listener until it is.
            event.listen(owner, "load", _remember_vault, raw=True)
            _LISTENING.add(owner)

    def __get__(self, obj, owner=None) -> Any:
        if obj is None:
            return self
        envelope = getattr(obj, self.column)
        if envelope is None:
            return None
        # The hot path of every decrypted field: the session's vault looked up inline.
        session = object_session(obj)
        if session is not None:
            vault = session.info.get(VAULT_KEY) or vault_of(session)  # vault_of: the refusal
        else:
            vault = _detached_vault(obj)
        text = vault.open(session, bytes(envelope), owner.__tablename__, self.column, obj.id)
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
        vault = vault_of(session)
        obj.__dict__[_VAULT] = vault
        text = json.dumps(value, ensure_ascii=False) if self.as_json else str(value)
        envelope = vault.seal(
            session,
            getattr(obj, self.owner),
            text,
            type(obj).__tablename__,
            self.column,
            obj.id,
            owner_kind=getattr(obj, "key_owner_kind", self.owner_kind),
        )
        setattr(obj, self.column, envelope)
