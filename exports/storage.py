"""Where export archives are kept: a local directory by default.

Writes go to a temporary name in the same directory and are renamed into place only when
complete (after fsync), so a crash never leaves a partial archive that looks finished. The
``Storage`` protocol admits an object store later (upload, then commit).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

TMP_SUFFIX = ".partial"


class Storage(Protocol):
    """What the export worker and the download need from a store."""

    def writer(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A file to write; visible under ``key`` only if the block completes."""

    def reader(self, key: str) -> BinaryIO:
        """Open a stored object for reading."""

    def delete(self, key: str) -> None:
        """Remove an object (missing is fine)."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    def purge_partials(self, older_than_seconds: float) -> int:
        """Remove abandoned partial writes; returns how many."""


class LocalStorage:
    """Objects as files under one directory (mode 0600)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if "/" in key or "\\" in key or key.startswith("."):
            raise ValueError("invalid storage key")
        return self.root / key

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """Write to ``<key>.<random>.partial``; rename to ``key`` on success, remove on failure."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self._path(key)
        tmp = final.with_name(f"{final.name}.{uuid.uuid4().hex}{TMP_SUFFIX}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def reader(self, key: str) -> BinaryIO:
        """Open the object for reading."""
        return open(self._path(key), "rb")

    def delete(self, key: str) -> None:
        """Remove the object if present."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        return self._path(key).exists()

    def size(self, key: str) -> int:
        """Size in bytes."""
        return self._path(key).stat().st_size

    def purge_partials(self, older_than_seconds: float) -> int:
        """Remove partial files left by killed workers."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.root.glob(f"*{TMP_SUFFIX}"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
