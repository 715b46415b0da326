"""Sending one message over its channel: SMTP for email, an HTTP gateway for SMS, else a log.

Nothing here queues or retries: customer notices are written to the outbox in the transaction
of the change they tell about (``notices.outbox``), and a queue task
(``tasks.work.deliver_notices``) sends each through ``Notifier.send``, which raises when the
channel fails so that the task can retry. Log lines name the channel and the request, never the
address or the message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import threading
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select

from privacy_service.crypto.normalize import mask
from privacy_service.notices import outbox
from privacy_service.requests import resolve
from privacy_service.requests.models import DataRequest

log = logging.getLogger(__name__)


class Notifier:
    """The channels messages leave by; ``wait()`` lets tests see the outbox drained."""

    def __init__(self, settings, db=None):
        self.settings = settings
        self.db = db
        self._lock = threading.Lock()

    def send(self, channel: str, to: str, subject: str, text: str, request_id: str | None) -> str:
        """Send one message now; returns the channel used. Raises when the channel fails."""
        if channel == "email" and self.settings.smtp_host:
            self._smtp(to, subject, text)
            via = "smtp"
        elif channel == "phone" and self.settings.sms_webhook_url:
            self._sms(to, text)
            via = "sms"
        else:
            self._outbox(channel, to, subject, text)
            via = "outbox"
        log.info("message delivered", extra={"channel": via, "request_id": request_id or "team"})
        return via

    def wait(self, timeout: float = 60, *, retrying: bool = True) -> None:
        """Block until no message is in flight and no contact lookup is open (or ``timeout``).

        For tests and drains: the queue's consumers do the work (a lookup writes its code's
        notice, which its own task then sends). A lookup ``retrying`` a source that failed is
        waited for until its queued retry settles it (the first retry comes after 15 s, so the
        timeout allows two); ``retrying=False`` counts a lookup done once it has been tried
        (a test of a source that is down). Messages waiting for a retry after a failure are not
        waited for.
        """
        self._end_own_read()
        lookups = resolve.OPEN if retrying else (resolve.PENDING,)
        deadline = time.monotonic() + timeout
        while True:
            session = self.db.new_session()
            try:
                # Lookups first: each statement may see a newer commit (PostgreSQL's read
                # committed), and a lookup commits its match with its code's notice. Counted the
                # other way round, a match committed between the two reads is seen in neither.
                busy = session.scalar(
                    select(func.count())
                    .select_from(DataRequest)
                    .where(DataRequest.identity_status.in_(lookups))
                )
                busy += outbox.in_flight(session)
                session.commit()
            finally:
                session.close()
            if not busy or time.monotonic() >= deadline:
                return
            time.sleep(0.01)

    def _end_own_read(self) -> None:
        # A caller reading through this thread's session holds SQLite's write lock (every
        # transaction begins IMMEDIATE): the consumers could not claim what we wait for. A
        # transaction that changed nothing is ended; one with changes is the caller's to finish.
        if not self.db.session.registry.has():
            return
        own = self.db.session()
        if own.in_transaction() and not (own.new or own.dirty or own.deleted):
            own.commit()

    def _smtp(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        with smtplib.SMTP(
            self.settings.smtp_host, self.settings.smtp_port, timeout=self.settings.smtp_timeout
        ) as smtp:
            smtp.send_message(message)

    def _sms(self, to: str, text: str) -> None:
        body = json.dumps({"to": to, "text": text}, ensure_ascii=False).encode()
        req = urllib.request.Request(  # noqa: S310 - the URL is the operator's configured gateway
            self.settings.sms_webhook_url,
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=self.settings.smtp_timeout) as response:  # noqa: S310
            if response.status >= 300:
                raise RuntimeError(f"SMS gateway answered {response.status}")

    def _outbox(self, channel: str, to: str, subject: str, text: str) -> None:
        # Development only (production requires a real channel): the code must reach the person
        # trying the demo, so the message text is written, with the contact masked.
        path = Path(self.settings.outbox_log)
        path.parent.mkdir(parents=True, exist_ok=True)
        kind = "email" if channel == "email" else "phone"
        line = json.dumps(
            {
                "at": dt.datetime.now(dt.UTC).isoformat(),
                "channel": channel,
                "to": mask(kind, to),
                "subject": subject,
                "text": text,
            },
            ensure_ascii=False,
        )
        with self._lock:
            # Owner-only: the outbox holds live codes.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
