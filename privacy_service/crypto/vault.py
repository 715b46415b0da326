"""Field envelopes under per-owner data keys, wrapped by versioned key-encryption keys.

Envelope layout (bytes)::

    format (1) = 0x02 | owner id (16, a UUID) | nonce (12) | AES-256-GCM ciphertext + tag

The owner is the data subject (or, for a request from someone who is not a customer, the request).
Its data key (DEK) is stored wrapped by a KEK version in ``data_keys``; the wrap's associated data
is the owner id, so a wrapped key moved to another owner does not unwrap. A field's associated
data is ``table/column/row id``, so a value copied to another row or column fails to open.
Unwrapped DEKs are cached per vault (``dek_cache.py``); keys minted in a transaction
reach the cache only when it commits.

A vault belongs to one app, not to the process: the app's ``Database`` gives it to every session
it makes (``session.info``), and code that holds a session finds it with ``vault_of(session)``.
Two apps in one process (tests, a tool reading a backup) each keep their own keys.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import event, select
from sqlalchemy.orm import Session, scoped_session

from privacy_service.crypto import keystore
from privacy_service.crypto.dek_cache import DataKeyCache
from privacy_service.crypto.keyring import KeyMaterialError, KeyRing
from privacy_service.crypto.keystore import RETIRED, DataKey, KeyVersion
from privacy_service.crypto.normalize import normalize
from privacy_service.db import VAULT_KEY, utcnow

FORMAT = 2
_HEAD = 1 + 16 + 12
BLIND_INDEX_BYTES = 8  # truncated: a match is a candidate, confirmed by decrypting
_NEW_KEYS = "vault_new_keys"


class DecryptionError(Exception):
    """An envelope cannot be opened: tampered, moved, or its key is gone or retired."""


class SubjectErased(DecryptionError):
    """The owner's data key was destroyed (crypto-shredded); nothing under it can be read."""


def _real(session: Session) -> Session:
    return session() if isinstance(session, scoped_session) else session


class Vault:
    """Seals and opens field values; mints, unwraps, re-wraps and shreds data keys."""

    def __init__(
        self,
        ring: KeyRing,
        *,
        reload: Callable[[], KeyRing] | None = None,
        cache_size: int = 50_000,
        cache_seconds: float = 300,
    ):
        self._ring = ring
        self._reload = reload
        self._keks = {v: AESGCM(k) for v, k in ring.keks.items()}
        self._cache = DataKeyCache(cache_size, cache_seconds)
        self._checked_fingerprints = False

    @property
    def keyring(self) -> KeyRing:
        """The current key ring (index and audit keys, KEK versions)."""
        return self._ring

    def reload_keyring(self) -> None:
        """Read the key ring again (a new KEK version was added to its file)."""
        if self._reload is not None:
            self._ring = self._reload()
            self._keks = {v: AESGCM(k) for v, k in self._ring.keks.items()}
            self._checked_fingerprints = False

    def forget_cached_keys(self) -> None:
        """Drop every cached data key (tests; after a shred in another process)."""
        self._cache.clear()

    # --- fields ------------------------------------------------------------------------------

    def seal(
        self,
        session: Session,
        owner_id: str,
        plaintext: str,
        table: str,
        column: str,
        row_id: str,
        *,
        owner_kind: str = "subject",
    ) -> bytes:
        """Encrypt ``plaintext`` for ``table.column`` of row ``row_id`` under the owner's key."""
        owner = uuid.UUID(owner_id).bytes
        aead = self._data_key(session, owner, create=True, owner_kind=owner_kind)
        nonce = os.urandom(12)
        aad = f"{table}/{column}/{row_id}".encode()
        return bytes((FORMAT,)) + owner + nonce + aead.encrypt(nonce, plaintext.encode(), aad)

    def open(
        self, session: Session | None, envelope: bytes, table: str, column: str, row_id: str
    ) -> str:
        """Decrypt an envelope made by ``seal`` for the same place."""
        if len(envelope) < _HEAD + 16 or envelope[0] != FORMAT:
            raise DecryptionError("not an envelope of a known format")
        owner = envelope[1:17]
        # The cache hit inlined: this is the hot path of every decrypted field.
        item = self._cache.entries.get(owner)
        if item is not None and item[1] >= time.monotonic():
            aead = item[0]
        else:
            aead = self._data_key(session, owner, create=False)
        try:
            return aead.decrypt(
                envelope[17:_HEAD], envelope[_HEAD:], f"{table}/{column}/{row_id}".encode()
            ).decode()
        except InvalidTag as exc:
            raise DecryptionError("envelope does not authenticate for this place") from exc

    def open_many(
        self,
        session: Session | None,
        envelopes: list[bytes],
        table: str,
        column: str,
        row_ids: list[str],
    ) -> list[str]:
        """Decrypt many envelopes of one column (exports, lists).

        The same checks as ``open``; the per-call costs (clock, cache lookup, AAD prefix) are
        paid once per owner instead of once per value.
        """
        prefix = f"{table}/{column}/"
        keys: dict[bytes, AESGCM] = {}
        out = []
        for envelope, row_id in zip(envelopes, row_ids, strict=True):
            if len(envelope) < _HEAD + 16 or envelope[0] != FORMAT:
                raise DecryptionError("not an envelope of a known format")
            owner = envelope[1:17]
            aead = keys.get(owner)
            if aead is None:
                aead = keys[owner] = self._cache.get(owner) or self._data_key(
                    session, owner, create=False
                )
            try:
                out.append(
                    aead.decrypt(
                        envelope[17:_HEAD], envelope[_HEAD:], (prefix + row_id).encode()
                    ).decode()
                )
            except InvalidTag as exc:
                raise DecryptionError("envelope does not authenticate for this place") from exc
        return out

    @staticmethod
    def owner_of(envelope: bytes) -> str:
        """The owner id an envelope was sealed for."""
        return str(uuid.UUID(bytes=envelope[1:17]))

    # --- data keys ---------------------------------------------------------------------------

    def data_key(self, session: Session | None, owner_id: str, *, create: bool = False) -> AESGCM:
        """The owner's data key (for stream encryption of exports); SubjectErased if shredded."""
        return self._data_key(session, uuid.UUID(owner_id).bytes, create=create)

    def _data_key(
        self, session: Session | None, owner: bytes, *, create: bool, owner_kind: str = "subject"
    ) -> AESGCM:
        cached = self._cache.get(owner)
        if cached is not None:
            return cached
        if session is None:
            raise DecryptionError("data key not cached and no session to load it")
        session = _real(session)
        staged = session.info.get(_NEW_KEYS, {}).get(self, {}).get(owner)
        if staged is not None:
            return staged
        owner_id = str(uuid.UUID(bytes=owner))
        # No autoflush: the row being sealed is pending and not complete yet.
        with session.no_autoflush:
            row = session.get(DataKey, owner_id)
            if row is not None and row.shredded_at is not None:
                raise SubjectErased("the owner's data key was destroyed")
            if row is None:
                if not create:
                    raise DecryptionError("no data key for this owner")
                return self._mint(session, owner, owner_id, owner_kind)
            dek = self._unwrap(session, row.wrapped, owner_id, row.kek_version)
        aead = AESGCM(dek)
        self._cache.put(owner, aead)
        return aead

    def _mint(self, session: Session, owner: bytes, owner_id: str, owner_kind: str) -> AESGCM:
        version = self.active_version(session)
        dek = AESGCM.generate_key(bit_length=256)
        session.add(
            DataKey(
                owner_id=owner_id,
                owner_kind=owner_kind,
                wrapped=self.wrap(dek, owner_id, version),
                kek_version=version,
            )
        )
        aead = AESGCM(dek)
        # Staged under this vault: the commit promotes it to the cache of the vault that minted it.
        session.info.setdefault(_NEW_KEYS, {}).setdefault(self, {})[owner] = aead
        return aead

    def wrap(self, dek: bytes, owner_id: str, version: int) -> bytes:
        """Wrap a data key with KEK ``version``, bound to its owner."""
        nonce = os.urandom(12)
        return nonce + self._kek(version).encrypt(nonce, dek, f"dek/{owner_id}".encode())

    def unwrap(self, wrapped: bytes, owner_id: str, version: int) -> bytes:
        """Unwrap a data key (no retirement check: rotation uses this on decrypt-only keys)."""
        try:
            return self._kek(version).decrypt(
                wrapped[:12], wrapped[12:], f"dek/{owner_id}".encode()
            )
        except InvalidTag as exc:
            raise DecryptionError("data key does not unwrap (wrong key or moved)") from exc

    def _unwrap(self, session: Session, wrapped: bytes, owner_id: str, version: int) -> bytes:
        status = session.scalar(select(KeyVersion.status).where(KeyVersion.version == version))
        if status == RETIRED:
            raise DecryptionError(f"key version {version} is retired")
        return self.unwrap(wrapped, owner_id, version)

    def _kek(self, version: int) -> AESGCM:
        if version not in self._keks:
            self.reload_keyring()  # added to the key file by a rotation in another process?
        try:
            return self._keks[version]
        except KeyError:
            raise DecryptionError(f"key version {version} is not in the key ring") from None

    def active_version(self, session: Session) -> int:
        """The KEK version new data keys are wrapped with, as the database records it."""
        session = _real(session)
        self._register_versions(session)
        version = keystore.active_version(session)
        if version is None:
            # Another thread registered the versions in a transaction we cannot see (or that
            # rolled back): register again here; ON CONFLICT waits for it to settle.
            with session.no_autoflush:
                keystore.register_versions(session, self._ring)
            version = keystore.active_version(session)
        if version is None:
            raise KeyMaterialError("no active key version in key_versions")
        return version

    def _register_versions(self, session: Session) -> None:
        """Record ring versions the database does not know; refuse a wrong key for a known one."""
        if self._checked_fingerprints:
            return
        with session.no_autoflush:
            keystore.register_versions(session, self._ring)
        self._checked_fingerprints = True

    def activate(self, session: Session, version: int) -> None:
        """Make ``version`` the active KEK; the previous one becomes decrypt-only."""
        if version not in self._ring.keks:
            self.reload_keyring()
        if version not in self._ring.keks:
            raise KeyMaterialError(f"key version {version} is not in the key ring")
        self._checked_fingerprints = False
        self._register_versions(session)
        keystore.set_active(_real(session), version)

    def shred(self, session: Session, owner_id: str) -> bool:
        """Destroy the owner's data key, leaving an erasure marker; False if it had none."""
        session = _real(session)
        owner = uuid.UUID(owner_id).bytes
        row = session.get(DataKey, owner_id)
        self._cache.evict(owner)
        session.info.get(_NEW_KEYS, {}).get(self, {}).pop(owner, None)
        if row is None:
            session.add(
                DataKey(
                    owner_id=owner_id,
                    owner_kind="subject",
                    wrapped=None,
                    kek_version=None,
                    shredded_at=utcnow(),
                )
            )
            return False
        already = row.shredded_at is not None
        row.wrapped, row.kek_version = None, None
        row.shredded_at = row.shredded_at or utcnow()
        return not already

    def _promote(self, minted: dict[bytes, AESGCM]) -> None:
        for owner, aead in minted.items():
            self._cache.put(owner, aead)

    # --- lookups and MACs --------------------------------------------------------------------

    def blind_index(self, kind: str, value: str) -> str:
        """Hex blind index of a normalised ``value`` of ``kind`` (email, phone, id_number)."""
        normalized = normalize(kind, value)
        mac = hmac.new(self._ring.index_key, f"{kind}:{normalized}".encode(), hashlib.sha256)
        return mac.hexdigest()[: BLIND_INDEX_BYTES * 2]

    @staticmethod
    def same(a: str, b: str) -> bool:
        """Constant-time comparison of two plaintexts (confirms a blind-index candidate)."""
        return hmac.compare_digest(a.encode(), b.encode())

    def audit_mac(self, payload: bytes) -> str:
        """HMAC-SHA256 of an audit entry under the audit key."""
        return hmac.new(self._ring.audit_key, payload, hashlib.sha256).hexdigest()


def vault_of(session: Session | scoped_session) -> Vault:
    """The vault of the app that made ``session`` (its ``Database`` puts it in ``session.info``).

    A session made elsewhere (a bare ``Session(engine)``) has no keys: refused, naming the cause.
    """
    vault = _real(session).info.get(VAULT_KEY)
    if vault is None:
        raise RuntimeError(
            "this session has no vault: use a session of the app's Database "
            "(made by create_app, a CLI command or a worker), which holds the keys"
        )
    return vault


@event.listens_for(Session, "after_commit")
def _promote_new_keys(session: Session) -> None:
    # Keys are staged per vault (see ``_mint``): each goes to the cache of the vault that minted
    # it, whichever app's session this is.
    for vault, minted in session.info.pop(_NEW_KEYS, {}).items():
        vault._promote(minted)


@event.listens_for(Session, "after_soft_rollback")
def _drop_new_keys(session: Session, previous) -> None:
    if previous.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_NEW_KEYS, None)
