"""The service's processes (gunicorn, worker, scheduler) and the meter of their CPU and memory."""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import threading
import time
from pathlib import Path

from bench.harness import BIN, ROOT, BenchError
from bench.load.record import Sink
from bench.procs import children, cpu_seconds, self_cpu, status_mib
from bench.service import free_port, stop_all, tail


class Service:
    """gunicorn (2 gevent workers), privacy worker and privacy scheduler, each its own process."""

    def __init__(self, env: dict, work: Path):
        self.env, self.work = env, work
        self.procs: dict[str, subprocess.Popen] = {}
        self.peak_rss: dict[str, float] = {}
        self._sampling = threading.Event()

    def start(self) -> str:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        self.env["PRIVACY_PUBLIC_URL"] = base
        commands = {
            "web": [
                str(BIN / "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            "worker": [str(BIN / "privacy"), "worker"],
            "scheduler": [str(BIN / "privacy"), "scheduler"],
        }
        for role, cmd in commands.items():
            log = (self.work / f"{role}.log").open("wb")
            self.procs[role] = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    raise BenchError(f"{role} exited:\n{tail(self.work / f'{role}.log')}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200 and len(self.pids("web")) == 3:
                    threading.Thread(target=self._sample, daemon=True).start()
                    return base
            time.sleep(0.3)
        raise BenchError(f"the service did not become ready:\n{tail(self.work / 'web.log')}")

    def pids(self, role: str) -> list[int]:
        proc = self.procs[role]
        return [proc.pid, *children(proc.pid)]

    def rss(self) -> dict[str, float]:
        return {role: sum(status_mib("VmRSS", p) for p in self.pids(role)) for role in self.procs}

    def cpu(self) -> dict[str, float]:
        return {role: sum(cpu_seconds(p) for p in self.pids(role)) for role in self.procs}

    def _sample(self) -> None:
        while not self._sampling.is_set():
            for role, mib in self.rss().items():
                self.peak_rss[role] = max(self.peak_rss.get(role, 0.0), mib)
            time.sleep(1.0)

    def stop(self) -> None:
        self._sampling.set()
        stop_all(self.procs.values(), timeout=30)


class Meter:
    """CPU of the generator, of the SMTP sink and of each service role over one window."""

    def __init__(self, service: Service, sink: Sink):
        self.service, self.sink = service, sink
        self.t0 = time.monotonic()
        self.gen0 = self_cpu()
        self.sink0 = cpu_seconds(tid=sink.thread_id)
        self.roles0 = service.cpu()

    def read(self) -> dict:
        wall = time.monotonic() - self.t0
        roles = self.service.cpu()
        return {
            "generator": (self_cpu() - self.gen0) / wall,
            "sink": (cpu_seconds(tid=self.sink.thread_id) - self.sink0) / wall,
            **{role: (roles[role] - self.roles0.get(role, 0.0)) / wall for role in roles},
        }
