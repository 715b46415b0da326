"""Encrypting large files as a stream (exports at rest), under an owner's data key.

Layout::

    b"PSX1" | owner id (16) | nonce prefix (7) | chunk* ;  chunk = length (4, BE) | ciphertext+tag

Each chunk is AES-256-GCM with nonce ``prefix | counter (4) | last flag (1)`` and the file's name
as associated data, so chunks cannot be reordered, dropped, swapped between files, or the file
cut short without detection (the STREAM construction). Memory is one chunk, whatever the size.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy_service.crypto.vault import DecryptionError

MAGIC = b"PSX1"
CHUNK = 1 << 20
_LEN = struct.Struct(">I")


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class SealedWriter:
    """A binary file-like writer that encrypts what is written, chunk by chunk."""

    def __init__(self, out: BinaryIO, aead: AESGCM, owner_id: str, name: str, chunk: int = CHUNK):
        self._out, self._aead, self._chunk = out, aead, chunk
        self._aad = f"stream/{name}".encode()
        self._prefix = os.urandom(7)
        self._buffer = bytearray()
        self._counter = 0
        self.closed = False
        out.write(MAGIC + uuid.UUID(owner_id).bytes + self._prefix)

    def write(self, data: bytes) -> int:
        """Buffer ``data``; full chunks are sealed and written."""
        self._buffer += data
        while len(self._buffer) > self._chunk:
            self._emit(bytes(self._buffer[: self._chunk]), last=False)
            del self._buffer[: self._chunk]
        return len(data)

    def close(self) -> None:
        """Seal the last chunk (marked last, possibly empty)."""
        if not self.closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self.closed = True

    def _emit(self, plaintext: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), plaintext, self._aad)
        self._out.write(_LEN.pack(len(sealed)) + sealed)
        self._counter += 1


def owner_of(stream: BinaryIO) -> tuple[str, bytes]:
    """Read the header: the owner id and the nonce prefix."""
    head = stream.read(4 + 16 + 7)
    if len(head) != 27 or head[:4] != MAGIC:
        raise DecryptionError("not a sealed stream")
    return str(uuid.UUID(bytes=head[4:20])), head[20:27]


def open_sealed(stream: BinaryIO, aead: AESGCM, prefix: bytes, name: str) -> Iterator[bytes]:
    """Decrypt chunk by chunk (after ``owner_of``); fails on any tampering or truncation."""
    aad = f"stream/{name}".encode()
    counter = 0
    while True:
        raw = stream.read(4)
        if len(raw) != 4:
            raise DecryptionError("sealed stream is truncated")
        (length,) = _LEN.unpack(raw)
        sealed = stream.read(length)
        if len(sealed) != length:
            raise DecryptionError("sealed stream is truncated")
        for last in (False, True):
            try:
                plaintext = aead.decrypt(_nonce(prefix, counter, last), sealed, aad)
            except InvalidTag:
                continue
            break
        else:
            raise DecryptionError("sealed stream chunk does not authenticate")
        yield plaintext
        counter += 1
        if last:
            if stream.read(1):
                raise DecryptionError("data after the last chunk")
            return
