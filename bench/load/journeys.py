"""The journeys of virtual customers and staff, and the threads that play them."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from urllib.parse import urlsplit

from bench.load import CUSTOMERS, EXPORT_WAIT, POLL, STAFF_LOGIN, STAFF_THINK
from bench.load.client import Client, Failed, Shared, csrf_token


def _known(rng: random.Random) -> str:
    # Customers 2..CUSTOMERS+1 of the demo shop (customer 1 is the 1,000,000-row one).
    return f"user{rng.randint(2, CUSTOMERS + 1)}@example.net"


def unknown(rng: random.Random, n: int) -> dict:
    if rng.random() < 0.5:
        return {"email": f"nobody{n}-{rng.randrange(10**6)}@example.org"}
    return {"phone": f"1{rng.randint(3, 9)}{rng.randrange(10**9):09d}"}


def _code(shared: Shared, rid: str, since: float) -> str:
    code = shared.sink.code(rid)
    if code is None:
        shared.record.error("code by e-mail", f"no code for a request within 30 s ({rid[:8]})")
        raise Failed
    shared.record.event("filed -> code received", time.monotonic() - since)
    return code


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def api_access(c: Client, shared: Shared, rng: random.Random) -> None:
    """File, verify (a wrong code first now and then), follow the status, download."""
    body = {"type": "access", "email": _known(rng)}
    if rng.random() < 0.3:
        body["categories"] = rng.sample(["account", "orders", "browsing", "addresses"], 2)
    if rng.random() < 0.3:
        body["language"] = "en"
    filed = time.monotonic()
    _, _, data = c.call("api submit", "POST", "/api/v1/requests", json_body=body)
    rid = json.loads(data)["id"]
    code = _code(shared, rid, filed)
    path = f"/api/v1/requests/{rid}"
    if rng.random() < 0.1:
        c.call(
            "api verify", "POST", path + "/verify", json_body={"code": _wrong(code)}, expect=(400,)
        )
    _, _, data = c.call("api verify", "POST", path + "/verify", json_body={"code": code})
    verified, token = time.monotonic(), json.loads(data)["access_token"]
    shared.remember(rid)
    while True:
        _, _, data = c.call("api status", "GET", path, token=token)
        if (json.loads(data).get("export") or {}).get("status") == "ready":
            break
        if time.monotonic() - verified > EXPORT_WAIT:
            shared.record.error("api status", f"export not ready after {EXPORT_WAIT:.0f} s")
            raise Failed
        time.sleep(POLL)
    shared.record.event("verified -> downloadable", time.monotonic() - verified)
    c.call("api download", "GET", path + "/export", token=token)


def api_correction(c: Client, shared: Shared, rng: random.Random) -> None:
    """A new nickname: file, verify, read the status."""
    n = shared.next_n()
    body = {
        "type": "correction",
        "email": _known(rng),
        "corrections": [{"category": "account", "field": "wechat_nickname", "value": f"昵称{n}"}],
    }
    filed = time.monotonic()
    _, _, data = c.call("api submit", "POST", "/api/v1/requests", json_body=body)
    rid = json.loads(data)["id"]
    code = _code(shared, rid, filed)
    path = f"/api/v1/requests/{rid}"
    _, _, data = c.call("api verify", "POST", path + "/verify", json_body={"code": code})
    shared.remember(rid)
    c.call("api status", "GET", path, token=json.loads(data)["access_token"])


def _location(headers: dict) -> str:
    return urlsplit(headers.get("Location", "")).path


def page_access(c: Client, shared: Shared, rng: random.Random) -> None:
    """The pages: form, code page, status page polling the export's progress, download."""
    _, _, page = c.call("page form", "GET", "/")
    csrf = csrf_token(page)
    filed = time.monotonic()
    form = {"csrf": csrf, "type": "access", "contact": _known(rng)}
    status, headers, _ = c.call("page submit", "POST", "/", form=form)
    where = _location(headers)
    if status != 303 or not where.endswith("/verify"):
        shared.record.error("page submit", f"answered {status} to {where!r}")
        raise Failed
    rid = where.split("/")[2]
    c.call("page code", "GET", where)
    code = _code(shared, rid, filed)
    if rng.random() < 0.1:
        c.call("page verify", "POST", where, form={"csrf": csrf, "code": _wrong(code)})
        c.call("page code", "GET", where)
    status, headers, _ = c.call("page verify", "POST", where, form={"csrf": csrf, "code": code})
    verified = time.monotonic()
    if status != 303 or _location(headers) != f"/r/{rid}":
        shared.record.error("page verify", f"answered {status} to {_location(headers)!r}")
        raise Failed
    shared.remember(rid)
    c.call("page status", "GET", f"/r/{rid}")
    while True:
        _, _, data = c.call("page progress", "GET", f"/r/{rid}/progress")
        if json.loads(data).get("state") == "ready":
            break
        if time.monotonic() - verified > EXPORT_WAIT:
            shared.record.error("page progress", f"export not ready after {EXPORT_WAIT:.0f} s")
            raise Failed
        time.sleep(POLL)
    shared.record.event("verified -> downloadable", time.monotonic() - verified)
    c.call("page status", "GET", f"/r/{rid}")
    c.call("page download", "GET", f"/r/{rid}/download")


def unknown_contact(c: Client, shared: Shared, rng: random.Random) -> None:
    """A contact that is no customer's (a typo): the same answers, no code goes out."""
    n = shared.next_n()
    kind = rng.choice(("access", "access", "deletion", "account_closure"))
    if rng.random() < 0.7:
        c.call(
            "api submit", "POST", "/api/v1/requests", json_body={"type": kind, **unknown(rng, n)}
        )
        return
    _, _, page = c.call("page form", "GET", "/")
    contact = next(iter(unknown(rng, n).values()))
    form = {"csrf": csrf_token(page), "type": kind, "contact": contact}
    _, headers, _ = c.call("page submit", "POST", "/", form=form)
    c.call("page code", "GET", _location(headers))


def browse(c: Client, shared: Shared, rng: random.Random) -> None:
    """Read the form, switch to English and back."""
    _, _, page = c.call("page form", "GET", "/")
    css = re.search(rb'href="(/portal-static/[^"]+\.css)"', page)
    if css:
        c.call("page static", "GET", css.group(1).decode())
    c.call("page language", "GET", "/lang/en?next=/")
    c.call("page form", "GET", "/")
    c.call("page language", "GET", "/lang/zh-CN?next=/")


JOURNEYS = [
    (api_access, 3),
    (page_access, 2),
    (api_correction, 1),
    (unknown_contact, 3),
    (browse, 2),
]


def address(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


class Load:
    """Virtual customers (a thread each, journey after journey) and signed-in staff."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.target = 0
        self.threads: list[threading.Thread] = []
        self.stop = threading.Event()

    def set_customers(self, n: int) -> None:
        self.target = n
        while len([t for t in self.threads if t.name.startswith("customer")]) < n:
            i = len([t for t in self.threads if t.name.startswith("customer")])
            self._start(f"customer-{i}", self._customer, i)

    def start_staff(self, n: int) -> None:
        for i in range(n):
            self._start(f"staff-{i}", self._staff, i)

    def _start(self, name: str, target, i: int) -> None:
        thread = threading.Thread(target=target, args=(i,), name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _customer(self, i: int) -> None:
        rng = random.Random(i * 7919 + 1)
        funcs, weights = zip(*JOURNEYS, strict=True)
        while not self.stop.is_set():
            if i >= self.target:
                time.sleep(0.2)
                continue
            journey = rng.choices(funcs, weights)[0]
            client = Client(self.shared.base, self.shared.record, address(rng))
            try:
                journey(client, self.shared, rng)
            except Failed:
                time.sleep(0.5)
            finally:
                client.close()

    def _staff(self, i: int) -> None:
        record = self.shared.record
        client = Client(self.shared.base, record, f"192.168.50.{i + 1}")
        rng = random.Random(i)
        try:
            _, _, page = client.call("staff sign-in", "GET", "/staff/login")
            email, password = STAFF_LOGIN
            form = {"csrf": csrf_token(page), "email": email, "password": password}
            status, _, _ = client.call("staff sign-in", "POST", "/staff/login", form=form)
            if status not in (302, 303):
                record.error("staff sign-in", f"answered {status}")
                return
            while not self.stop.is_set():
                try:
                    client.call("staff queue", "GET", "/staff/requests")
                    time.sleep(STAFF_THINK)
                    with self.shared.lock:
                        rid = rng.choice(self.shared.recent) if self.shared.recent else None
                    if rid:
                        client.call("staff request", "GET", f"/staff/requests/{rid}")
                        time.sleep(STAFF_THINK)
                    if rng.random() < 0.2:
                        client.call("staff overview", "GET", "/staff/")
                        time.sleep(STAFF_THINK)
                except Failed:
                    time.sleep(STAFF_THINK)
        except Failed:
            return
        finally:
            client.close()

    def finish(self, timeout: float = EXPORT_WAIT + 30) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))
