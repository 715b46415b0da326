"""The export as a two-stage pipeline on two threads, reading each category once.

Stage 1 (a producer thread) reads a category's rows from the sources, converts each batch once
(``TableCodec.convert``) and encodes it three ways; JSON and CSV chunks go to the caller through
one bounded queue; the first ``HTML_MAX_ROWS`` rows are kept for the pages.

Stage 2 (the caller's thread) compresses, hashes, encrypts and writes the JSON, and puts each CSV
chunk in a ``CsvSink``: a spool (the ZIP writes one member at a time, and the CSV member follows
the JSON one) and a deflate stream made at once, so that writing the CSV member later only
replays it (``Replay``) instead of compressing 80 MB after the last row. zlib, hashlib and
AES-GCM release the GIL on large buffers, so stage 2 runs beside stage 1 on the second core.

The spool keeps up to ``SPOOL_MEMORY`` bytes in memory and then continues in an anonymous
temporary file sealed under a key that exists only in this process (AES-GCM, the same chunked
format as archives at rest): no personal data reaches the disk in plaintext, and memory stays
flat whatever the row count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import queue
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exports.documents import HTML_MAX_ROWS
from exports.formats import CsvMember, JsonMember
from privacy_service.crypto.stream import SealedWriter, open_sealed, owner_of

SPOOL_MEMORY = 8 << 20
# The CSV's deflate stream (about a tenth of the CSV: 10 MB at 1,000,000 rows) is kept in memory
# up to this, then sealed in a temporary file like the spool.
DEFLATED_MEMORY = 8 << 20
QUEUE_CHUNKS = 16


class Spool:
    """Bytes written once and read back once: memory first, then a sealed temporary file."""

    def __init__(self, memory_limit: int | None = None):
        self.limit = SPOOL_MEMORY if memory_limit is None else memory_limit
        self.parts: list[bytes] = []
        self.size = 0
        self.file = None
        self.sealed = None
        self.aead: AESGCM | None = None

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        if not data:
            return
        if self.sealed is None and self.size + len(data) <= self.limit:
            self.parts.append(data)
            self.size += len(data)
            return
        if self.sealed is None:
            self.file = tempfile.TemporaryFile(prefix="export-spool-")  # noqa: SIM115 - closed in chunks()/close()
            self.aead = AESGCM(AESGCM.generate_key(bit_length=256))
            self.sealed = SealedWriter(self.file, self.aead, str(uuid.uuid4()), name="spool")
            for part in self.parts:
                self.sealed.write(part)
            self.parts.clear()
        self.sealed.write(data)

    def chunks(self) -> Iterator[bytes]:
        """Everything written, in order (once); the temporary file is closed afterwards."""
        try:
            yield from self.parts
            if self.sealed is not None:
                self.sealed.close()
                self.file.seek(0)
                _owner, prefix = owner_of(self.file)
                yield from open_sealed(self.file, self.aead, prefix, "spool")
        finally:
            self.close()

    def close(self) -> None:
        """Drop what is held (idempotent)."""
        self.parts.clear()
        if self.file is not None:
            self.file.close()
            self.file = None


@dataclasses.dataclass
class CategoryDone:
    """The end of a category's chunks: its counts and its rows for the pages."""

    counts: dict[str, int]
    html_rows: list[tuple]


class CsvPart(bytes):
    """A chunk of the category's CSV (the other chunks on the queue are its JSON)."""


class CsvSink:
    """A category's CSV as the caller receives it: spooled, and deflated on the way in.

    The CSV member is written after the JSON one, when every row has been read; its deflate
    stream is ready by then, and ``Replay`` hands it to the ZIP writer while the spool supplies
    the same bytes for the CRC, the sizes and the manifest's hash.
    """

    def __init__(self, compressobj: Callable):
        self.spool = Spool()
        self.deflated = Spool(memory_limit=DEFLATED_MEMORY)
        self.compressor = compressobj()
        self.crc, self.size, self.deflated_size = 0, 0, 0

    def write(self, data: bytes) -> None:
        """Spool and deflate ``data``."""
        self.spool.write(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self._deflated(self.compressor.compress(data))

    def finish(self) -> None:
        """The end of the CSV: the deflate stream is complete."""
        self._deflated(self.compressor.flush())

    def _deflated(self, data: bytes) -> None:
        self.deflated.write(data)
        self.deflated_size += len(data)

    def replay(self) -> Replay:
        """A compress object for the ZIP writer that returns this deflate stream."""
        return Replay(self.deflated.chunks(), self.crc, self.size, self.deflated_size)

    def close(self) -> None:
        """Drop what is held (idempotent)."""
        self.spool.close()
        self.deflated.close()


class Replay:
    """Looks like ``zlib.compressobj()``; returns a deflate stream made earlier from the same bytes.

    The ZIP writer passes the member's bytes through ``compress`` (it takes their CRC and sizes
    itself); they are checked against those the stream was made from before ``flush`` ends it.
    """

    def __init__(self, parts: Iterator[bytes], crc: int, size: int, deflated_size: int):
        self.parts, self.expected = parts, (crc, size)
        self.ratio = deflated_size / size if size else 1.0
        self.crc, self.size, self.given = 0, 0, 0

    def compress(self, data: bytes) -> bytes:
        """Take ``data`` (for the check) and give as much of the stream as corresponds to it."""
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        out = []
        while self.given < self.size * self.ratio:
            part = next(self.parts, None)
            if part is None:
                break
            out.append(part)
            self.given += len(part)
        return b"".join(out)

    def flush(self) -> bytes:
        """The rest of the stream, once the bytes given match those it was made from."""
        if (self.crc, self.size) != self.expected:
            raise RuntimeError("the spooled CSV differs from the bytes that were deflated")
        return b"".join(self.parts)


class _Stopped(Exception):
    """The consumer went away; the producer stops."""


class Producer:
    """Stage 1 on its own thread; the consumer reads JSON and CSV chunks and ``CategoryDone``."""

    def __init__(self, plans, collect: Callable, codec: Callable, json_head: Callable):
        self.plans, self.collect, self.codec, self.json_head = plans, collect, codec, json_head
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="export-producer", daemon=True)
        self.started = False

    def start(self) -> None:
        """Start reading (once)."""
        if not self.started:
            self.started = True
            self.thread.start()

    def stop(self) -> None:
        """Ask the producer to stop, release what it queued, and wait for it."""
        self.stopping.set()
        while self.thread.is_alive():
            self._drain()
            self.thread.join(timeout=0.05)
        self._drain()

    def _drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()

    def chunks(self) -> Iterator[bytes | CsvPart | CategoryDone]:
        """The next category's JSON and CSV chunks, then its ``CategoryDone``."""
        self.start()
        while True:
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, CategoryDone):
                return

    def _put(self, item) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.1)
                return
        raise _Stopped

    def _run(self) -> None:
        try:
            for plan in self.plans:
                self._category(plan)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, which raises it as it was
            with contextlib.suppress(_Stopped):
                self._put(exc)

    def _category(self, plan) -> None:
        counts = dict.fromkeys(plan.tables, 0)
        json_member = JsonMember(self.json_head(plan))
        csv_member = CsvMember(plan.columns)
        html_rows: list[tuple] = []
        self._put(CsvPart(csv_member.opening()))
        self._put(json_member.opening())
        with contextlib.closing(Prefetch(self.collect(plan.code), self.stopping)) as batches:
            for batch in batches:
                columns = tuple(batch.columns)
                codec = self.codec(plan, batch.table, columns)
                converted = codec.convert(batch.rows)
                counts[batch.table] += converted.n
                self._put(json_member.batch(batch.table, columns, converted.json, converted.n))
                self._put(
                    CsvPart(csv_member.batch(batch.table, columns, converted.csv, converted.n))
                )
                if converted.n and len(html_rows) < HTML_MAX_ROWS:
                    html_rows += _html_rows(
                        plan, batch.table, columns, codec.html(converted), converted.n
                    )[: HTML_MAX_ROWS - len(html_rows)]
                if self.stopping.is_set():
                    raise _Stopped
        self._put(json_member.closing())
        self._put(CategoryDone(counts, html_rows))


class Prefetch:
    """Iterate ``batches`` on a thread of its own, one or two batches ahead.

    The database produces the next batch while this one is encoded: a FETCH round trip waits
    on the server (the GIL is free meanwhile), and the server has the other core. The source
    iterator is created, advanced and closed on the fetching thread only.
    """

    DEPTH = 2

    def __init__(self, batches, stopping: threading.Event):
        self.source = batches
        self.stopping = stopping
        self.closed = threading.Event()
        self.queue: queue.Queue = queue.Queue(maxsize=self.DEPTH)
        self.thread = threading.Thread(target=self._run, name="export-fetch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        end: object = _END
        try:
            with contextlib.closing(iter(self.source)) as batches:
                for batch in batches:
                    if not self._put(batch):
                        return
        except BaseException as exc:  # handed over and raised by the encoder
            end = exc
        self._put(end)

    def _put(self, item) -> bool:
        while not (self.closed.is_set() or self.stopping.is_set()):
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.1)
                return True
        return False

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            with contextlib.suppress(queue.Empty):
                item = self.queue.get(timeout=0.1)
                break
            if self.stopping.is_set():
                raise _Stopped
        if item is _END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop fetching and wait for the thread (which closes the source iterator)."""
        self.closed.set()
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self.queue.get_nowait()
            self.thread.join(timeout=0.05)


_END = object()


def _html_rows(plan, table: str, columns: tuple[str, ...], cols: list, n: int) -> list[tuple]:
    # Tuples, not lists: the collector stops tracking a tuple of plain values, so the 10,000 rows
    # kept for the pages do not add to every full collection while the rest is written.
    at = {c: i for i, c in enumerate(columns)}
    lined = [cols[at[c]] if c in at else itertools.repeat(None, n) for c in plan.columns]
    return list(zip(itertools.repeat(table, n), *lined, strict=True))
