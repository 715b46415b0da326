"""One virtual customer's or staff member's connection, and what the journeys share."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from urllib.parse import urlencode, urlsplit

from bench.load.record import Record, Sink


class Failed(Exception):
    """An answer the journey cannot go on from (already recorded as an error)."""


class Client:
    """One keep-alive connection, its cookies and the address a proxy would forward."""

    def __init__(self, base: str, record: Record, address: str):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.record, self.address = record, address
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        self.last_used = 0.0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json_body=None,
        form=None,
        token: str | None = None,
        expect: tuple[int, ...] = (),
    ) -> tuple[int, dict, bytes]:
        """Send one request; 2xx/3xx and the ``expect``-ed 4xx are fine, anything else fails."""
        headers = {"X-Forwarded-For": self.address, "Accept-Language": "zh-CN,zh;q=0.9"}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        # gunicorn closes a keep-alive connection idle for 5 s (gunicorn.conf.py): open a new one
        # before that instead of racing the server's close (a browser does the same).
        if self.conn is None or time.monotonic() - self.last_used > 4.0:
            self.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self.record.error(kind, f"{method} {_shape(path)}: {type(exc).__name__}: {exc}")
            raise Failed from exc
        seconds = time.perf_counter() - t0
        self.last_used = time.monotonic()
        for value in resp.headers.get_all("Set-Cookie") or ():
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        ok = resp.status < 400 or resp.status in expect
        self.record.answer(kind, seconds, ok)
        if resp.status >= 400:
            if not ok:
                detail = data[:200].decode("utf-8", "replace")
                self.record.error(kind, f"{method} {_shape(path)} -> {resp.status}: {detail}")
                raise Failed
            self.record.expected(kind, resp.status)
        return resp.status, dict(resp.headers.items()), data


def _shape(path: str) -> str:
    """The path with request ids replaced (error samples group by endpoint)."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<id>", path.split("?", 1)[0])


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_token(page: bytes) -> str:
    found = CSRF_RE.search(page.decode("utf-8", "replace"))
    if not found:
        raise Failed("no CSRF token on the page")
    return found.group(1)


class Shared:
    """What the journeys share: the sink, the record, the shop's size, recent request ids."""

    def __init__(self, base: str, record: Record, sink: Sink):
        self.base, self.record, self.sink = base, record, sink
        self.recent: list[str] = []
        self.n = 0
        self.lock = threading.Lock()

    def next_n(self) -> int:
        with self.lock:
            self.n += 1
            return self.n

    def remember(self, rid: str) -> None:
        with self.lock:
            self.recent.append(rid)
            del self.recent[:-200]
