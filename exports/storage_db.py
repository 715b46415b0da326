"""Export archives as rows of the service database, so every web node can serve them.

The archive is already sealed (encrypted under the customer's data key) before it reaches a
store, so the rows hold ciphertext only. A write is spooled to a temporary file (sealed bytes,
on disk past 8 MiB) and inserted in one transaction when complete: a crash leaves no partial
object, and no write transaction stays open while the export is built. A read streams the
chunks one row at a time, so a download never holds the whole archive in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from sqlalchemy import Integer, LargeBinary, String, delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.db import Base, UTCDateTime, utcnow

CHUNK = 1024 * 1024
SPOOL = 8 * 1024 * 1024


class ExportChunk(Base):
    """One piece of a stored object, in order (``seq`` from 0)."""

    __tablename__ = "export_chunks"

    storage_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class DatabaseStorage:
    """The ``Storage`` protocol over the ``export_chunks`` table."""

    def __init__(self, engine: Engine, chunk: int = CHUNK):
        self.engine = engine
        self.chunk = chunk

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """A spool to write; its bytes become visible under ``key`` only if the block completes."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
            yield spool
            spool.seek(0)
            now = utcnow()
            with self.engine.begin() as conn:
                conn.execute(delete(ExportChunk).where(ExportChunk.storage_key == key))
                seq = 0
                while piece := spool.read(self.chunk):
                    conn.execute(
                        insert(ExportChunk).values(
                            storage_key=key, seq=seq, data=piece, created_at=now
                        )
                    )
                    seq += 1

    def reader(self, key: str) -> BinaryIO:
        """The object as a buffered stream that fetches one chunk row at a time."""
        if not self.exists(key):
            raise FileNotFoundError(key)
        return io.BufferedReader(_ChunkReader(self.engine, key), buffer_size=64 * 1024)

    def delete(self, key: str) -> None:
        """Remove the object (missing is fine)."""
        with self.engine.begin() as conn:
            conn.execute(delete(ExportChunk).where(ExportChunk.storage_key == key))

    def exists(self, key: str) -> bool:
        """Whether the object is stored."""
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(ExportChunk.seq).where(
                        ExportChunk.storage_key == key, ExportChunk.seq == 0
                    )
                ).first()
                is not None
            )

    def size(self, key: str) -> int:
        """Size in bytes."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(func.length(ExportChunk.data)), 0)).where(
                        ExportChunk.storage_key == key
                    )
                ).scalar()
            )

    def purge_partials(self, older_than_seconds: float) -> int:
        """Nothing to purge: an object is inserted in one transaction or not at all."""
        return 0


class _ChunkReader(io.RawIOBase):
    """Reads an object's chunks in order, one short query per chunk."""

    def __init__(self, engine: Engine, key: str):
        self.engine, self.key = engine, key
        self.seq, self.pending, self.done = 0, b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.done:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(ExportChunk.data).where(
                        ExportChunk.storage_key == self.key, ExportChunk.seq == self.seq
                    )
                ).first()
            if row is None:
                self.done = True
            else:
                self.pending, self.seq = bytes(row[0]), self.seq + 1
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n
