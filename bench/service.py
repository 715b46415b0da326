"""The service under a benchmark: its environment, the ``privacy`` CLI, gunicorn, stopping it.

Shared by the benchmarks that run the service as processes (bench/run.py's intake benchmark,
bench/purge, bench/queue, bench/load). BENCH_WORKERS and BENCH_THREADS size ``gunicorn``
(2 workers x 4 gthread threads; BENCH_THREADS=1 = sync workers).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.harness import BIN, ROOT, BenchError, b64key, env_num

WORKERS = env_num("BENCH_WORKERS", 2)
THREADS = env_num("BENCH_THREADS", 4)


def service_env(database_url: str, instance_dir: Path) -> dict[str, str]:
    """The environment for the CLI and gunicorn: fresh keys, temporary instance dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")}
    env.update(
        PRIVACY_ENV="development",
        PRIVACY_DATABASE_URL=database_url,
        PRIVACY_INSTANCE_DIR=str(instance_dir),
        PRIVACY_SECRET_KEY=secrets.token_urlsafe(48),
        PRIVACY_KEYS="1:" + b64key(),
        PRIVACY_INDEX_KEY=b64key(),
        PRIVACY_AUDIT_KEY=b64key(),
        PRIVACY_LOG_FORMAT="text",
        PRIVACY_SCHEDULER_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def raise_limits(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the per-IP and per-contact limits raised for a one-address load generator.

    A generator on one address files thousands of requests a minute for a handful of contacts:
    the limits would answer 429 to nearly all of them, and the figures would time the refusal.
    Raised, not switched off, so every request still pays for its limit checks. (bench/load
    keeps the real limits: it sends each customer's address as a proxy would.)
    """
    env.update(
        PRIVACY_RATELIMIT_DEFAULT="10000000 per minute",
        PRIVACY_RATELIMIT_SUBMIT="10000000 per minute",
        PRIVACY_RATELIMIT_CODES_PER_CONTACT_IP="10000000 per day",
        PRIVACY_RATELIMIT_CODES_PER_CONTACT="10000000 per day",
    )
    return env


def run_privacy(env: dict[str, str], *args: str, timeout: float = 120) -> None:
    """Run ``privacy ARGS`` with ``env``; BenchError with its output when it fails."""
    proc = subprocess.run(
        [str(BIN / "privacy"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise BenchError(f"privacy {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")


def free_port() -> int:
    """A loopback port nothing listens on (free when asked; the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def log_problems(log_path: Path) -> list[str]:
    """Lines of a service log that look like trouble (tracebacks, errors, timeouts)."""
    words = ("Traceback", "ERROR", "CRITICAL", "WORKER TIMEOUT", "locked", "deadlock")
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if any(w in line for w in words)]


def stop_all(procs, timeout: float = 20) -> None:
    """SIGTERM every process still running, then wait for each; kill any outliving ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log_path: Path):
    """Run gunicorn on a free loopback port; yield its base URL; stop it on the way out."""
    port = free_port()
    cmd = [
        str(BIN / "gunicorn"),
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "wsgi:app",
    ]
    if THREADS > 1:
        cmd[1:1] = ["--threads", str(THREADS)]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(proc, url, log_path)
            yield url
        finally:
            stop_all([proc])


def wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 30) -> None:
    """Wait until gunicorn at ``url`` serves the API description; BenchError if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url + "/api/openapi.json", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer within {timeout:.0f} s:\n{tail(log_path)}")
