"""A real SMTP server for the tests (a pytest plugin): one per worker, an inbox per test."""

from __future__ import annotations

import logging
import re
import socket
import threading
import uuid
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

logging.getLogger("mail.log").setLevel(logging.WARNING)


class SmtpSink:
    """One test's inbox on the worker's SMTP server: the messages its apps sent.

    Each test's apps send from their own address (``address``); the server files a message
    under its envelope sender, so a late message of an earlier test never lands here.
    """

    def __init__(self, port: int):
        self.port = port
        self.address = f"privacy-{uuid.uuid4().hex[:12]}@shop.example"
        self.messages = []
        self._cond = threading.Condition()

    def receive(self, content: bytes) -> None:
        """File one message (called on the server's thread)."""
        with self._cond:
            self.messages.append(message_from_bytes(content))
            self._cond.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 10):
        """Block until ``count`` messages arrived; returns the list."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        assert len(self.messages) >= count, f"expected {count} message(s), got {len(self.messages)}"
        return self.messages

    def bodies(self) -> list[str]:
        """Text of every message received."""
        return [m.get_payload(decode=True).decode() for m in self.messages]

    def codes(self, rid: str | None = None) -> list[str]:
        """The one-time codes received, in order; only those about request ``rid`` if given."""
        found = [re.search(r"\b(\d{6})\b", b) for b in self.bodies() if rid is None or rid in b]
        return [m.group(1) for m in found if m]

    def code_for(self, rid: str, timeout: float = 45) -> str:
        """The latest one-time code sent about request ``rid``, waited for.

        Picked by the request id, never by position: another request's notice may arrive
        in between. The timeout covers a contact lookup retrying a source that timed out on a
        loaded machine (first retry after 15 s); a passing test never waits for it.
        """
        with self._cond:
            self._cond.wait_for(lambda: bool(self.codes(rid)), timeout=timeout)
        found = self.codes(rid)
        assert found, f"no code sent for {rid}"
        return found[-1]


class SmtpServer:
    """The aiosmtpd handler of a worker's one SMTP server: files messages in their test's inbox."""

    def __init__(self):
        self.inboxes: dict[str, SmtpSink] = {}

    async def handle_DATA(self, server, session, envelope):
        inbox = self.inboxes.get(envelope.mail_from)
        if inbox is not None:  # else a message of a test that has ended: accepted, dropped
            inbox.receive(envelope.content)
        return "250 OK"


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback, started once per worker."""
    handler = SmtpServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def smtp(smtp_server):
    """This test's inbox: every message the test's apps send by SMTP."""
    inbox = SmtpSink(smtp_server.port)
    smtp_server.inboxes[inbox.address] = inbox
    yield inbox
    del smtp_server.inboxes[inbox.address]
