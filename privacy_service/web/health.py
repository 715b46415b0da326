"""Probes: ``GET /healthz`` (the process answers) and ``GET /readyz`` (it can do its work).

Readiness checks the service database, every SQL source of the data map, the key ring (the
database's active key version is in the ring and wraps and unwraps), the rate-limit store when
it is shared, the task queue's store (Redis answers a ping; the SQLite queue file can be read
and written), and the scheduler when it runs in this process (its thread is alive and its job
leases are readable). Anything down gives ``503`` problem+json whose ``errors`` name it; the
reasons are exception types only, never messages (they may carry connection strings).
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select, text

from privacy_service.crypto.keystore import ACTIVE, KeyVersion
from privacy_service.jobs import JobLease
from privacy_service.web.context import runtime
from privacy_service.web.errors import problem_response

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify(status="ok")


def _database() -> None:
    with runtime().db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _source(name: str):
    def check() -> None:
        source = runtime().sources[name]
        if hasattr(source, "ping"):  # an HTTP source: a search that matches nobody
            source.ping()
            return
        with source.connect() as conn:
            conn.execute(text("SELECT 1"))

    return check


def _keyring() -> None:
    rt = runtime()
    with rt.db.session_factory() as session:
        version = session.scalar(select(KeyVersion.version).where(KeyVersion.status == ACTIVE))
    version = version or rt.vault.keyring.default_active
    probe = os.urandom(32)
    if rt.vault.unwrap(rt.vault.wrap(probe, "readyz", version), "readyz", version) != probe:
        raise ValueError("key ring round trip failed")


def _ratelimit_store() -> None:
    limiter = current_app.extensions["privacy.limiter"]
    if not limiter.storage.check():
        raise ConnectionError("rate-limit store does not answer")


def _queue() -> None:
    # Exports, deletions, lookups and every notice (codes included) go through the queue.
    runtime().queue.ping()


def _scheduler() -> None:

    scheduler = current_app.extensions.get("privacy.scheduler")
    if scheduler is None or not scheduler.running:
        raise RuntimeError("scheduler is not running")
    # Every run takes its lease in job_leases: the scheduler can work only if that table can be
    # read. (A lease left by a killed process expires by itself and is not a fault.)
    with runtime().db.session_factory() as session:
        session.scalars(select(JobLease.job_id).limit(1)).all()


def checks() -> dict:
    """Every readiness check by name."""
    rt = runtime()
    found = {"database": _database}
    for name in sorted(rt.sources):
        found[f"source:{name}"] = _source(name)
    found["keyring"] = _keyring
    if rt.queue is not None:
        found["queue"] = _queue
    if not rt.settings.ratelimit_storage_url.startswith("memory://"):
        found["ratelimit_store"] = _ratelimit_store
    if rt.settings.scheduler_enabled:
        found["scheduler"] = _scheduler
    return found


@bp.get("/readyz")
def readyz():
    """200 when every dependency is usable, otherwise 503 naming what is down."""
    results, down = {}, {}
    for name, check in checks().items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = "down"
            down[name] = [type(exc).__name__]
    if down:
        log.warning("not ready", extra={"down": sorted(down)})
        return problem_response(
            503,
            "not-ready",
            "Not ready",
            "Not ready: " + ", ".join(sorted(down)) + " down.",
            errors=down,
            headers={"Retry-After": "10"},
        )
    return jsonify(status="ready", checks=results)
