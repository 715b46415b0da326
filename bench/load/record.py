"""What the load generator records, and the SMTP sink that reads the codes the service sends."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from bench.harness import summary
from bench.service import free_port


class Record:
    """Every answer: (finished at, kind, seconds, ok), and the errors with a sample of each."""

    def __init__(self):
        self.samples: list[tuple[float, str, float, bool]] = []
        self.errors: list[tuple[float, str, str]] = []
        self.expected_4xx: dict[str, int] = {}
        self.events: list[tuple[float, str, float]] = []  # e.g. verified -> downloadable
        self.lock = threading.Lock()

    def answer(self, kind: str, seconds: float, ok: bool) -> None:
        self.samples.append((time.monotonic(), kind, seconds, ok))

    def error(self, kind: str, detail: str) -> None:
        with self.lock:
            self.errors.append((time.monotonic(), kind, detail[:300]))

    def expected(self, kind: str, status: int) -> None:
        key = f"{kind} {status}"
        with self.lock:
            self.expected_4xx[key] = self.expected_4xx.get(key, 0) + 1

    def event(self, kind: str, seconds: float) -> None:
        self.events.append((time.monotonic(), kind, seconds))

    def window(self, start: float, end: float) -> dict:
        """Figures of the answers finished in [start, end)."""
        by_kind: dict[str, list[float]] = {}
        for at, kind, seconds, _ok in self.samples:
            if start <= at < end:
                by_kind.setdefault(kind, []).append(seconds * 1000)
        every = sorted(v for values in by_kind.values() for v in values)
        waits: dict[str, list[float]] = {}
        for at, kind, seconds in self.events:
            if start <= at < end:
                waits.setdefault(kind, []).append(seconds)
        return {
            "seconds": end - start,
            "count": len(every),
            "rps": len(every) / (end - start),
            "all": summary(every),
            "kinds": {k: summary(sorted(v)) for k, v in sorted(by_kind.items())},
            "errors": [e for e in self.errors if start <= e[0] < end],
            "waits": {k: summary(sorted(v)) for k, v in sorted(waits.items())},
        }


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CODE_RE = re.compile(r"\b(\d{6})\b")


class Sink:
    """Receives every message the service sends; hands out one-time codes by request id."""

    def __init__(self):
        self.codes: dict[str, str] = {}
        self.messages = 0
        self.cond = threading.Condition()
        self.thread_id = 0

    async def handle_DATA(self, server, session, envelope):
        self.thread_id = threading.get_native_id()
        message = message_from_bytes(envelope.content, policy=policy.default)
        text = message.get_body(("plain",)).get_content()
        with self.cond:
            self.messages += 1
            # The "received" notice and a resent code both carry the request id and the code
            # (the notice's template, in the request's language); other notices carry no code.
            rid = UUID_RE.search(text)
            code = rid and CODE_RE.search(text.replace(rid.group(0), ""))
            if code:
                self.codes[rid.group(0)] = code.group(1)
                self.cond.notify_all()
        return "250 OK"

    def code(self, rid: str, timeout: float = 30) -> str | None:
        """The latest code sent for ``rid`` (waits for it)."""
        with self.cond:
            self.cond.wait_for(lambda: rid in self.codes, timeout=timeout)
            return self.codes.pop(rid, None)


@contextlib.contextmanager
def smtp_sink():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()
