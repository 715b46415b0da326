"""b) Verified -> downloadable over HTTP: the service (gunicorn and a ``privacy worker``) in one
of two layouts, access requests filed, verified and polled until their export downloads."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from bench.harness import BIN, ROOT, BenchError
from bench.queue import POLL_SECONDS, REDIS_URL
from bench.service import free_port, run_privacy, service_env, stop_all, wait_ready


def _http(method: str, url: str, body=None, token=None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _code_for(outbox: Path, rid: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.exists():
            for line in reversed(outbox.read_text(encoding="utf-8").splitlines()):
                text = json.loads(line)["text"]
                if rid in text and (found := re.search(r"\b(\d{6})\b", text)):
                    return found.group(1)
        time.sleep(0.02)
    raise BenchError(f"no code for {rid} in {outbox}")


def _one_request(url: str, outbox: Path) -> tuple[str, float]:
    status, body = _http(
        "POST", f"{url}/api/v1/requests", {"type": "access", "email": "demo@example.com"}
    )
    if status != 202:
        raise BenchError(f"submit answered {status}: {body[:200]!r}")
    rid = json.loads(body)["id"]
    status, body = _http(
        "POST", f"{url}/api/v1/requests/{rid}/verify", {"code": _code_for(outbox, rid)}
    )
    verified = time.perf_counter()
    if status != 200:
        raise BenchError(f"verify answered {status}: {body[:200]!r}")
    token = json.loads(body)["access_token"]
    while True:
        status, _ = _http("GET", f"{url}/api/v1/requests/{rid}/export", token=token)
        if status == 200:
            return rid, time.perf_counter() - verified
        if status != 409 or time.perf_counter() - verified > 120:
            raise BenchError(f"export answered {status}")
        time.sleep(POLL_SECONDS)


def _serve(env: dict, log_path: Path, worker: bool):
    """gunicorn (1 worker, 8 threads) and, with ``worker``, ``privacy worker``: URL, processes."""
    port = free_port()
    procs = []
    with log_path.open("ab") as log:
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "--workers",
                    "1",
                    "--threads",
                    "8",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        if worker:
            procs.append(
                subprocess.Popen(
                    [str(BIN / "privacy"), "worker"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(procs[0], url, log_path)
    except BenchError:
        stop_all(procs)
        raise
    return url, procs


def end_to_end(layout: str, database_url: str, work: Path, seed_args: list[str], runs: int) -> dict:
    """Verified -> downloadable times (seconds) of RUNS access requests."""
    instance = work / "instance"
    instance.mkdir(parents=True)
    env = service_env(database_url, instance)
    production = layout == "production"
    env.update(
        PRIVACY_SHOP_DATABASE_URL=database_url
        if production
        else f"sqlite:///{instance / 'shop.db'}",
        PRIVACY_QUEUE_CONSUMER="false",
        # One client polls one request 40 times a second: not what the limits are for.
        PRIVACY_RATELIMIT_DEFAULT="100000 per minute",
        PRIVACY_QUEUE_URL=REDIS_URL if production else "",
        PRIVACY_QUEUE_NAME=f"bench-{secrets.token_hex(4)}",
    )
    run_privacy(env, "db", "upgrade")
    run_privacy(env, "demo", "seed", *seed_args, timeout=900)
    url, procs = _serve(env, work / "server.log", worker=True)
    try:
        if runs > 1:
            _one_request(url, instance / "outbox.log")  # warm-up (imports, first connections)
        done = [_one_request(url, instance / "outbox.log") for _ in range(runs)]
    finally:
        stop_all(procs)
    times = [t for _, t in done]
    waits = _waits(database_url, [rid for rid, _ in done])
    return {
        "p50": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "wait_p50": statistics.median(waits),
    }


def _waits(database_url: str, rids: list[str]) -> list[float]:
    """Verification commit -> build start of each export (queued_at -> built_at)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT queued_at, built_at FROM export_archives WHERE request_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": rids},
            ).all()
    finally:
        engine.dispose()

    def aware(value):
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    return [(aware(b) - aware(a)).total_seconds() for a, b in rows]
