"""Load generator for ``POST /api/v1/requests``; run by ``bench/run.py`` in its own process.

N threads, each with one keep-alive ``http.client.HTTPConnection``, send JSON request bodies
as fast as the server answers them: a warm-up phase (not recorded), then a measured phase.
Every answer other than 202 is an error. A JSON summary is printed on stdout, nothing else.

    python -m bench.loadgen --url http://127.0.0.1:8000 --concurrency 16 --warmup 2 --duration 12
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
from urllib.parse import urlsplit

from bench.harness import percentile

PATH = "/api/v1/requests"
DEMO_EMAIL = "demo@example.com"
DEMO_PHONE = "13800138000"
DEMO_SHARE = 0.10
CATEGORIES = ("account", "addresses", "orders", "payments", "browsing", "devices")
MAX_ERROR_SAMPLES = 5


class Body:
    """Request bodies for one thread: ~10% for the demo customer, the rest unknown contacts."""

    def __init__(self, thread_index: int, seed: int):
        self.rng = random.Random(seed * 1000 + thread_index)
        self.thread_index = thread_index
        self.n = 0

    def _contact(self) -> dict:
        self.n += 1
        if self.rng.random() < 0.5:
            i = self.thread_index * 10_000_000 + self.n
            return {"email": f"user{i}@example.net"}
        while True:
            # A valid mainland mobile number: 11 digits, 1 then 3-9, never the demo customer's.
            phone = f"1{self.rng.randint(3, 9)}{self.rng.randrange(10**9):09d}"
            if phone != DEMO_PHONE:
                return {"phone": phone}

    def next(self) -> tuple[str, bytes]:
        """The kind of body (``demo`` or ``unknown``) and its encoded JSON."""
        rng = self.rng
        if rng.random() < DEMO_SHARE:
            return "demo", json.dumps({"type": "access", "email": DEMO_EMAIL}).encode()
        body: dict = {}
        kind = rng.choices(
            ("access", "deletion", "account_closure", "correction"), weights=(5, 2, 1, 2)
        )[0]
        body["type"] = kind
        body.update(self._contact())
        if kind in ("access", "deletion") and rng.random() < 0.4:
            body["categories"] = rng.sample(CATEGORIES, rng.randint(1, 3))
        if kind == "correction":
            body["corrections"] = [
                {"category": "account", "field": "wechat_nickname", "value": f"new name {self.n}"}
            ]
        if rng.random() < 0.3:
            body["language"] = "en"
        if rng.random() < 0.2:
            body["note"] = "Please handle this request.\nThank you."
        return "unknown", json.dumps(body).encode()


class Worker(threading.Thread):
    """One client connection sending requests back to back."""

    def __init__(self, index: int, args, start_gate: threading.Barrier, clock: dict):
        super().__init__(name=f"loadgen-{index}", daemon=True)
        self.args = args
        self.bodies = Body(index, args.seed)
        self.start_gate = start_gate
        self.clock = clock
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.kinds: dict[str, int] = {}
        self.warmup_ok = 0
        self.warmup_total = 0
        self.ok_total = 0
        self.last_end = 0.0
        self.error_samples: list[dict] = []

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.args.host, self.args.port, timeout=self.args.timeout)

    def run(self) -> None:
        conn = self._connect()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.start_gate.wait()
        measure_from, end = self.clock["measure_from"], self.clock["end"]
        try:
            while time.perf_counter() < end:
                kind, payload = self.bodies.next()
                detail = ""
                t0 = time.perf_counter()
                try:
                    conn.request("POST", PATH, body=payload, headers=headers)
                    resp = conn.getresponse()
                    answer = resp.read()
                    status = str(resp.status)
                    if resp.status != 202:
                        detail = answer[:300].decode("utf-8", "replace")
                except (OSError, http.client.HTTPException) as exc:
                    status = type(exc).__name__
                    detail = str(exc)[:300]
                    conn.close()
                    conn = self._connect()
                t1 = time.perf_counter()
                if t0 < measure_from:
                    self.warmup_total += 1
                    self.warmup_ok += status == "202"
                    continue
                self.latencies.append(t1 - t0)
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
                self.ok_total += status == "202"
                self.last_end = t1
                if status != "202" and len(self.error_samples) < MAX_ERROR_SAMPLES:
                    self.error_samples.append({"status": status, "kind": kind, "detail": detail})
        finally:
            conn.close()


def run(args) -> dict:
    start_gate = threading.Barrier(args.concurrency + 1)
    clock: dict = {}
    workers = [Worker(i, args, start_gate, clock) for i in range(args.concurrency)]
    for w in workers:
        w.start()
    now = time.perf_counter()
    clock["measure_from"] = now + args.warmup
    clock["end"] = now + args.warmup + args.duration
    start_gate.wait()
    for w in workers:
        w.join(args.duration + args.warmup + args.timeout + 10)

    latencies = sorted(lat for w in workers for lat in w.latencies)
    statuses: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for w in workers:
        for key, value in w.statuses.items():
            statuses[key] = statuses.get(key, 0) + value
        for key, value in w.kinds.items():
            kinds[key] = kinds.get(key, 0) + value
    count = len(latencies)
    ok = sum(w.ok_total for w in workers)
    last_end = max((w.last_end for w in workers), default=clock["measure_from"])
    seconds = max(last_end - clock["measure_from"], 1e-9)
    ms = [v * 1000 for v in latencies]
    return {
        "count": count,
        "ok": ok,
        "errors": count - ok,
        "statuses": statuses,
        "kinds": kinds,
        "seconds": round(seconds, 3),
        "rps": round(count / seconds, 2),
        "ok_rps": round(ok / seconds, 2),
        "latency_ms": {
            "p50": round(percentile(ms, 50), 2),
            "p90": round(percentile(ms, 90), 2),
            "p99": round(percentile(ms, 99), 2),
            "max": round(ms[-1], 2) if ms else 0.0,
            "mean": round(sum(ms) / count, 2) if count else 0.0,
        },
        "warmup": {
            "count": sum(w.warmup_total for w in workers),
            "ok": sum(w.warmup_ok for w in workers),
        },
        "concurrency": args.concurrency,
        "error_samples": [s for w in workers for s in w.error_samples][:MAX_ERROR_SAMPLES],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, not recorded")
    parser.add_argument("--duration", type=float, default=12.0, help="measured seconds")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request socket timeout")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    args.host, args.port = parts.hostname or "127.0.0.1", parts.port or 80
    json.dump(run(args), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
