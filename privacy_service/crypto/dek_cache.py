"""The process's cache of unwrapped data keys: bounded, and forgetful after a time limit.

Unwrapping a data key costs a database read and a KEK decryption; a field read costs
microseconds. The cache keeps the unwrapped keys of recently read owners so that a list or an
export opens each owner's key once. Entries expire so that a key shredded by another process
stops working here within ``seconds``.
"""

from __future__ import annotations

import collections
import threading
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DataKeyCache:
    """A bounded LRU of unwrapped data keys by 16-byte owner id, forgetful after ``seconds``.

    ``entries`` maps an owner to ``(key, expires_at)`` on the monotonic clock; ``Vault.open``
    reads it directly on its hot path.
    """

    def __init__(self, size: int, seconds: float):
        self.size, self.seconds = size, seconds
        self.entries: collections.OrderedDict[bytes, tuple[AESGCM, float]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, owner: bytes) -> AESGCM | None:
        """The owner's key, or None when it is not cached or has expired."""
        item = self.entries.get(owner)
        if item is None or item[1] < time.monotonic():
            return None
        return item[0]

    def put(self, owner: bytes, aead: AESGCM) -> None:
        """Cache the owner's key, dropping the least recently added beyond ``size``."""
        with self._lock:
            self.entries[owner] = (aead, time.monotonic() + self.seconds)
            self.entries.move_to_end(owner)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def evict(self, owner: bytes) -> None:
        """Forget the owner's key (it was shredded)."""
        with self._lock:
            self.entries.pop(owner, None)

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self.entries.clear()
