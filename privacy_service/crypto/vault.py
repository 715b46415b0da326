"""Field envelopes (AES-256-GCM) bound to their place, and blind indexes (HMAC-SHA256).

Envelope layout (bytes)::

    version (1) | key version (2, big-endian) | nonce (12) | ciphertext + tag

The associated data is ``table/column/row id``, so a value copied to another row or column fails
to open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy_service.crypto.keyring import KeyRing
from privacy_service.crypto.normalize import normalize

ENVELOPE_VERSION = 1
_HEADER = struct.Struct(">BH")
NONCE_SIZE = 12
BLIND_INDEX_BYTES = 8  # truncated: a match is a candidate, confirmed by decrypting


class DecryptionError(Exception):
    """An envelope cannot be opened: tampered, moved, or its key is gone."""


class Vault:
    """Seals and opens field values; computes blind indexes."""

    def __init__(self, keyring: KeyRing):
        self.keyring = keyring
        self._aead = {version: AESGCM(key) for version, key in keyring.keks.items()}

    def seal(self, plaintext: str, table: str, column: str, row_id: str) -> bytes:
        """Encrypt ``plaintext`` for ``table.column`` of row ``row_id`` under the active key."""
        version = self.keyring.active_kek
        nonce = os.urandom(NONCE_SIZE)
        header = _HEADER.pack(ENVELOPE_VERSION, version)
        aad = _aad(table, column, row_id)
        return header + nonce + self._aead[version].encrypt(nonce, plaintext.encode(), aad)

    def open(self, envelope: bytes, table: str, column: str, row_id: str) -> str:
        """Decrypt an envelope made by ``seal`` for the same place."""
        if len(envelope) < _HEADER.size + NONCE_SIZE + 16:
            raise DecryptionError("envelope too short")
        fmt, version = _HEADER.unpack_from(envelope)
        if fmt != ENVELOPE_VERSION:
            raise DecryptionError(f"unknown envelope version {fmt}")
        aead = self._aead.get(version)
        if aead is None:
            raise DecryptionError(f"key version {version} is not in the key ring")
        nonce = envelope[_HEADER.size : _HEADER.size + NONCE_SIZE]
        body = envelope[_HEADER.size + NONCE_SIZE :]
        try:
            return aead.decrypt(nonce, body, _aad(table, column, row_id)).decode()
        except InvalidTag as exc:
            raise DecryptionError("envelope does not authenticate for this place") from exc

    def blind_index(self, kind: str, value: str) -> str:
        """Hex blind index of a normalised ``value`` of ``kind`` (email, phone, id_number)."""
        normalized = normalize(kind, value)
        mac = hmac.new(self.keyring.index_key, f"{kind}:{normalized}".encode(), hashlib.sha256)
        return mac.hexdigest()[: BLIND_INDEX_BYTES * 2]

    @staticmethod
    def same(a: str, b: str) -> bool:
        """Constant-time comparison of two plaintexts (confirms a blind-index candidate)."""
        return hmac.compare_digest(a.encode(), b.encode())

    def audit_mac(self, payload: bytes) -> str:
        """HMAC-SHA256 of an audit entry under the audit key."""
        return hmac.new(self.keyring.audit_key, payload, hashlib.sha256).hexdigest()


def _aad(table: str, column: str, row_id: str) -> bytes:
    return f"{table}/{column}/{row_id}".encode()


_current: Vault | None = None


def install_vault(vault: Vault | None) -> None:
    """Make ``vault`` the one models use (done by the app factory, the CLI and tests)."""
    global _current
    _current = vault


def current_vault() -> Vault:
    """The installed vault."""
    if _current is None:
        raise RuntimeError("no vault installed: create the app first")
    return _current
