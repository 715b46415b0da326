"""Delivering one-time codes and notices: SMTP for email, an HTTP gateway for SMS, else an outbox.

Delivery runs on a small thread pool after the request's transaction commits, so the HTTP answer
takes the same time whether or not a message is sent (no account enumeration by timing), and a
slow mail server never holds a database transaction open. Log lines name the channel and the
request, never the address or the message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import threading
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

from privacy_service.crypto.normalize import mask

log = logging.getLogger(__name__)

CODE_SUBJECT = "隐私请求验证码 / Privacy request verification code"
CODE_TEXT = (
    "您的验证码是 {code}，{minutes} 分钟内有效，仅用于请求 {request_id}。"
    "如非本人操作，请忽略本消息。\n\n"
    "Your verification code is {code}. It is valid for {minutes} minutes, for request "
    "{request_id} only. If you did not ask for it, ignore this message.\n"
)
EXPORT_READY_SUBJECT = "您的个人信息副本已生成 / Your data export is ready"
EXPORT_READY_TEXT = (
    "您的个人信息副本（请求 {request_id}）已生成。请在“请求我的数据”页面验证身份后下载，"
    "{days} 天内有效，最多下载 {downloads} 次。\n\n"
    'Your data export (request {request_id}) is ready. Download it from the "Request my data" '
    "page after verifying; it is available for {days} days and {downloads} downloads.\n"
)


class Notifier:
    """Sends messages on a background pool; ``wait()`` lets tests and shutdown drain it."""

    def __init__(self, settings):
        self.settings = settings
        self._pool = ThreadPoolExecutor(
            max_workers=settings.delivery_threads, thread_name_prefix="delivery"
        )
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def send_code(self, *, channel: str, to: str, code: str, request_id: str) -> None:
        """Queue a one-time code to ``to`` over ``channel`` (``email`` or ``phone``)."""
        minutes = max(1, self.settings.otp_ttl_seconds // 60)
        text = CODE_TEXT.format(code=code, minutes=minutes, request_id=request_id)
        self._submit(channel, to, CODE_SUBJECT, text, request_id)

    def send_export_ready(
        self, *, channel: str, to: str, request_id: str, days: int, downloads: int
    ) -> None:
        """Tell the customer their export can be downloaded (no personal data in the message)."""
        text = EXPORT_READY_TEXT.format(request_id=request_id, days=days, downloads=downloads)
        self._submit(channel, to, EXPORT_READY_SUBJECT, text, request_id)

    def send_notice(
        self, *, channel: str, to: str, subject: str, text: str, request_id: str
    ) -> None:
        """Queue a rendered customer notice (``privacy_service.notices``)."""
        self._submit(channel, to, subject, text, request_id)

    def send_in_order(self, messages: list[tuple[str, str, str, str, str]]) -> None:
        """Queue ``(channel, to, subject, text, request_id)`` messages, delivered one by one.

        The notices of one change (verified, then cooling-off started) arrive in their order.
        """
        if not messages:
            return
        future = self._pool.submit(lambda: [self._deliver(*m) for m in messages])
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def send_request_message(
        self, *, channel: str, to: str, subject: str, text: str, request_id: str
    ) -> None:
        """A message from the privacy team about a request, over the request's channel."""
        self._submit(channel, to, subject, text, request_id)

    def send_team_notice(self, *, to: str, subject: str, text: str) -> None:
        """A notice to the privacy team (request ids and counts only)."""
        self._submit("email", to, subject, text, "team")

    def run(self, func, *args) -> None:
        """Run other after-the-answer work on the same pool (e.g. looking a contact up)."""
        self._track(self._pool.submit(self._guarded, func, *args))

    @staticmethod
    def _guarded(func, *args) -> None:
        try:
            func(*args)
        except Exception as exc:  # logged without values; the scheduled job retries
            log.error(
                "background task failed",
                extra={"task": getattr(func, "__name__", "task"), "error_type": type(exc).__name__},
            )

    def _track(self, future: Future) -> None:
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _submit(self, channel: str, to: str, subject: str, text: str, request_id: str) -> None:
        self._track(self._pool.submit(self._deliver, channel, to, subject, text, request_id))

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout: float = 10) -> None:
        """Block until every queued message has been handled (or ``timeout``).

        Work may queue more work (a lookup queues its code): wait until nothing is left.
        """
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for future in pending:
                future.exception(timeout=timeout)
                self._done(future)

    def shutdown(self) -> None:
        """Finish queued deliveries and stop the pool."""
        self._pool.shutdown(wait=True)

    def _deliver(self, channel: str, to: str, subject: str, text: str, request_id: str) -> None:
        try:
            if channel == "email" and self.settings.smtp_host:
                self._smtp(to, subject, text)
                via = "smtp"
            elif channel == "phone" and self.settings.sms_webhook_url:
                self._sms(to, text)
                via = "sms"
            else:
                self._outbox(channel, to, subject, text)
                via = "outbox"
            log.info("message delivered", extra={"channel": via, "request_id": request_id})
        except Exception as exc:
            # The customer can ask for the code again; the error type is enough to investigate.
            log.warning(
                "message delivery failed",
                extra={
                    "channel": channel,
                    "request_id": request_id,
                    "error_type": type(exc).__name__,
                },
            )

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
