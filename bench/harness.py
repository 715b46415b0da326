"""What every benchmark shares: settings, percentiles, scratch databases, child processes.

``bench`` is a package run from the project's root (``python -m bench.run``, ``python -m
bench.queue``...), so the project and ``bench`` import like any package and no script needs to
touch ``sys.path``; a benchmark's child processes are started the same way (``bench_command``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import platform
import secrets
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent  # the working folder of every child process
BIN = Path(sys.executable).parent  # the virtualenv's console scripts: privacy, gunicorn
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class BenchError(RuntimeError):
    """A step of a benchmark failed; the message says which."""


def bench_command(module: str, *args: str) -> list[str]:
    """The argv running ``bench.<module>`` with ``args`` in a new interpreter (cwd ``ROOT``)."""
    return [sys.executable, "-m", f"bench.{module}", *args]


def env_num(name: str, default, cast=int):
    """A number from the environment (``1_000_000`` allowed), or ``default``."""
    raw = os.environ.get(name)
    return cast(raw.replace("_", "")) if raw else default


def percentile(values: list[float], pct: float, empty: float = 0.0) -> float:
    """Nearest-rank percentile (``pct`` from 0 to 100) of ``values``; ``empty`` when none."""
    if not values:
        return empty
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(ordered: list[float]) -> dict:
    """Count, p50, p95, p99 and max of the sorted ``ordered`` (zeros when there are none)."""
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else 0.0,
    }


def yes(ok: bool) -> str:
    """How a goal line says whether the goal is met."""
    return "yes" if ok else "NO"


def machine() -> str:
    """The machine and Python, as every benchmark's ``machine:`` line starts."""
    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def first_line(exc: BaseException) -> str:
    """An error's first line (the driver's message when SQLAlchemy wraps one)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def b64key() -> str:
    """A fresh 256-bit key, base64 (as PRIVACY_KEYS takes them)."""
    return base64.b64encode(os.urandom(32)).decode()


def keys_json() -> str:
    """Fresh data, index and audit keys, as JSON: how a benchmark hands its keys to children."""
    return json.dumps({k: b64key() for k in ("kek", "index", "audit")})


def vault_from_json(raw: str):
    """The vault of ``keys_json``'s keys (the data key as version 1, active)."""
    from privacy_service.crypto import KeyRing, Vault  # not for benchmarks that do not need it

    keys = {k: base64.b64decode(v) for k, v in json.loads(raw).items()}
    ring = KeyRing(
        keks={1: keys["kek"]}, default_active=1, index_key=keys["index"], audit_key=keys["audit"]
    )
    return Vault(ring)


def libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string, for psycopg or the plain driver."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def postgres_database(base_url: str, prefix: str = "privacy_bench"):
    """Create a fresh, uniquely named database; yield its URL and the server version; drop it."""
    base = make_url(base_url)
    admin = sa.create_engine(
        base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False), version
        finally:
            try:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except sa.exc.SQLAlchemyError as exc:
                print(f"warning: could not drop {name}: {first_line(exc)}", file=sys.stderr)
    finally:
        admin.dispose()


def each_backend(backends, run, *, name: str, errors: tuple[type[BaseException], ...]):
    """``run(backend, url, workdir)`` on each backend; returns (results, skipped, failed).

    SQLite gets a file in a temporary folder, PostgreSQL a scratch database (BENCH_DATABASE_URL;
    skipped with the reason when unreachable). An error of ``errors`` marks the backend failed.
    """
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix=f"privacy-bench-{name}-") as tmp:
        workdir = Path(tmp)
        for backend in backends:
            try:
                if backend == "sqlite":
                    print("running sqlite ...", flush=True)
                    results[backend] = run(backend, f"sqlite:///{workdir / 'bench.db'}", workdir)
                elif backend == "postgresql":
                    base_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
                    with contextlib.ExitStack() as stack:
                        try:
                            url, version = stack.enter_context(
                                postgres_database(base_url, f"privacy_bench_{name}")
                            )
                        except sa.exc.SQLAlchemyError as exc:
                            skipped[backend] = f"unreachable: {first_line(exc)}"
                            continue
                        print(f"running postgresql (server {version}) ...", flush=True)
                        results[backend] = run(backend, url, workdir)
                else:
                    skipped[backend] = "unknown backend"
            except errors as exc:
                failed = True
                skipped[backend] = f"failed: {str(exc).splitlines()[0]}"
                print(f"{backend} failed:\n{exc}", file=sys.stderr)
    return results, skipped, failed
