"""The paced open-loop client (its own process: ``python -m bench.purge --client``) and the
latency windows cut from its samples."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

from bench.harness import ROOT, BenchError, bench_command, percentile
from bench.loadgen import PATH, Body
from bench.purge import CLIENTS, RATE


def client_main(url: str, rate: float, threads: int) -> int:
    """Send POSTs at ``rate``/s over ``threads`` keep-alive connections until stdin says stop.

    Open loop: each thread has a schedule (one request every ``threads / rate`` s); a late thread
    catches up. Prints ``{"samples": [[sent, latency, status, lag], ...], "errors": [...]}`` as
    JSON (monotonic clock seconds, comparable with the parent's ``time.monotonic()``).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    stop = threading.Event()
    interval = threads / rate
    start = time.monotonic() + 0.1
    results: list[list] = [[] for _ in range(threads)]
    details: list[str] = []

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        bodies = Body(index, seed=7)
        out = results[index]
        k = 0
        while not stop.is_set():
            due = start + (k + index / threads) * interval
            k += 1
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            _kind, payload = bodies.next()
            # loadgen.py's corrections name "nickname", which the data map does not know (422).
            payload = payload.replace(b'"field": "nickname"', b'"field": "wechat_nickname"')
            t0 = time.monotonic()
            try:
                conn.request("POST", PATH, body=payload, headers=headers)
                resp = conn.getresponse()
                answer = resp.read()
                status = resp.status
                if status != 202 and len(details) < 5:
                    details.append(f"{status} {answer[:200].decode('utf-8', 'replace')}")
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            out.append((t0, time.monotonic() - t0, status, max(0.0, t0 - due)))
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    sys.stdin.readline()
    stop.set()
    for t in pool:
        t.join(35)
    json.dump({"samples": sorted(r for rs in results for r in rs), "errors": details}, sys.stdout)
    sys.stdout.write("\n")
    return 0


class Client:
    """The paced client's process: started now, stopped (and read) by ``stop``."""

    def __init__(self, url: str):
        self.proc = subprocess.Popen(
            bench_command(
                "purge",
                "--client",
                "--url",
                url,
                "--rate",
                str(RATE),
                "--threads",
                str(CLIENTS),
            ),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> list:
        out, err = self.proc.communicate("stop\n", timeout=60)
        if self.proc.returncode != 0:
            raise BenchError(f"client failed ({self.proc.returncode}):\n{err[-2000:]}")
        return json.loads(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def window(samples: list, start: float, end: float) -> dict:
    """Latency figures (ms) of the requests sent in [start, end)."""
    inside = [s for s in samples if start <= s[0] < end]
    ms = sorted(s[1] * 1000 for s in inside)
    late = sorted((s[1] + s[3]) * 1000 for s in inside)  # from the scheduled send
    errors = [s for s in inside if s[2] != 202]
    return {
        "seconds": end - start,
        "count": len(inside),
        "rps": len(inside) / (end - start) if end > start else 0.0,
        "p50": percentile(ms, 50, empty=float("nan")),
        "p90": percentile(ms, 90, empty=float("nan")),
        "p99": percentile(ms, 99, empty=float("nan")),
        "max": ms[-1] if ms else float("nan"),
        "p99_sched": percentile(late, 99, empty=float("nan")),
        "errors": len(errors),
        "statuses": sorted({str(s[2]) for s in errors}),
    }
