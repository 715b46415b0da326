"""One measurement of the collection benchmark, in a process of its own (``python -m
bench.collect --child SPEC``): the collector's or the bare SELECT's batches, every row touched,
memory and the garbage collector metered."""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import sqlite3
import time

import psycopg
from sqlalchemy.engine import make_url

from bench.collect import BARE_SQL, BATCH, CHECKPOINT, DEMO_EMAIL, KEYS_ENV
from bench.harness import BenchError, libpq, vault_from_json
from bench.procs import peak_mib, reset_peak, status_mib
from privacy_service.config import DEMO_POLICIES
from privacy_service.datamap.collect import Collector
from privacy_service.db import Database, make_engine
from privacy_service.policies import load_policies
from privacy_service.subjects.directory import find_by_contact


def _status_mb(field: str) -> float:
    """A ``/proc/self/status`` figure (VmRSS, VmHWM) in MB; falls back to ru_maxrss."""
    return status_mib(field, default=peak_mib())


def _watch_gc() -> dict:
    """Time the garbage collector's pauses: all of them, and the full (generation 2) ones."""
    stats = {"seconds": 0.0, "full": 0, "full_seconds": 0.0}
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        spent = time.perf_counter() - started[0]
        stats["seconds"] += spent
        if info["generation"] == 2:
            stats["full"] += 1
            stats["full_seconds"] += spent

    gc.callbacks.append(callback)
    return stats


# --- child process: one measurement -------------------------------------------------------------


def _consume(batches, marks: dict) -> int:
    """Touch every row of every batch; note the RSS high-water mark at the checkpoint."""
    rows = 0
    touched = 0
    for batch in batches:
        for row in batch:
            touched += row[0] is not None
        rows += len(batch)
        if "checkpoint_mb" not in marks and rows >= CHECKPOINT:
            marks["checkpoint_mb"] = _status_mb("VmHWM")
            marks["checkpoint_rows"] = rows
    if touched != rows:
        raise BenchError(f"{rows - touched} rows without a primary key")
    return rows


def _collector_batches(spec: dict):
    policies = load_policies(DEMO_POLICIES)
    db = Database(spec["service_url"], vault=vault_from_json(os.environ[KEYS_ENV]))
    session = db.new_session()
    subject = find_by_contact(session, "email", DEMO_EMAIL)
    if subject is None:
        raise BenchError(f"{DEMO_EMAIL} not found in the service's directory")
    shop_engine = make_engine(spec["shop_url"])
    collector = Collector(policies.datamap, {"shop": shop_engine})
    categories = spec.get("categories")

    def batches():
        for batch in collector.collect(session, subject, categories=categories, batch_size=BATCH):
            yield batch.rows

    return batches


def _bare_batches(spec: dict):
    url = make_url(spec["shop_url"])
    if url.get_backend_name() == "postgresql":
        conninfo = libpq(spec["shop_url"])

        def batches():
            with psycopg.connect(conninfo) as conn, conn.cursor(name="bench") as cur:
                cur.itersize = BATCH
                cur.execute(BARE_SQL)
                while rows := cur.fetchmany(BATCH):
                    yield rows

        return batches

    def batches():
        conn = sqlite3.connect(url.database)
        try:
            cur = conn.execute(BARE_SQL)
            while rows := cur.fetchmany(BATCH):
                yield rows
        finally:
            conn.close()

    return batches


def child(spec: dict) -> dict:
    """One measurement in this (fresh) process; the result as a dict."""
    make = _collector_batches if spec["kind"] == "collector" else _bare_batches
    batches = make(spec)  # imports, keys, subject lookup: before the clock and the peak reset
    # As the app does at the end of create_app(): start-up objects leave the GC's generations.
    gc.freeze()
    base_mb = _status_mb("VmRSS")
    startup_peak_mb = _status_mb("VmHWM")
    reset = reset_peak()
    tracked = len(gc.get_objects())
    gc_stats = _watch_gc()
    marks: dict = {}
    profile_text = None
    if spec.get("profile"):
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        rows = _consume(batches(), marks)
        profiler.disable()
        seconds = time.perf_counter() - started
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(22)
        profile_text = out.getvalue()
    else:
        started = time.perf_counter()
        rows = _consume(batches(), marks)
        seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "rate": rows / seconds if seconds else 0.0,
        "base_mb": base_mb,
        "startup_peak_mb": startup_peak_mb,
        "peak_mb": _status_mb("VmHWM"),
        "peak_reset": reset,
        "ru_maxrss_mb": peak_mib(),
        "checkpoint_mb": marks.get("checkpoint_mb"),
        "checkpoint_rows": marks.get("checkpoint_rows"),
        "profile": profile_text,
        "tracked_objects": tracked,
        "gc_seconds": gc_stats["seconds"],
        "gc_full": gc_stats["full"],
        "gc_full_seconds": gc_stats["full_seconds"],
    }
