"""2. ``identity.find`` lookups, data-key cache cold and warm."""

from __future__ import annotations

import gc
import random
import time

from bench.vault import LOOKUPS
from bench.vault.data import lat_summary, timed
from privacy_service.crypto import Vault
from privacy_service.db import Database
from privacy_service.subjects import identity


def lookup_once(db: Database, number: str) -> tuple[float, int]:
    """One ``identity.find`` in a fresh session: (milliseconds, documents found)."""
    session = db.new_session()
    try:
        t0 = time.perf_counter_ns()
        docs = identity.find(session, number)
        elapsed = (time.perf_counter_ns() - t0) / 1e6
        return elapsed, len(docs)
    finally:
        session.close()


def bench_lookups(db: Database, vault: Vault, sample: list[str]) -> dict:
    """Cold (data-key cache cleared: every lookup unwraps) then warm, same numbers."""
    for number in random.sample(sample, min(50, len(sample))):  # warm the pool, plans, code
        lookup_once(db, number)
    out = {}
    for phase in ("cold", "warm"):
        if phase == "cold":
            vault.forget_cached_keys()
        latencies, wrong = [], 0
        for number in sample:
            ms, found = lookup_once(db, number)
            latencies.append(ms)
            wrong += found != 1
        out[phase] = {"latencies": latencies, "wrong": wrong}
    return out


def report_lookups(backend: str, r: dict) -> None:
    for phase in ("cold", "warm"):
        lat = r[phase]["latencies"]
        what = "data-key cache cleared first" if phase == "cold" else "keys cached"
        wrong = f", {r[phase]['wrong']} NOT exactly one match" if r[phase]["wrong"] else ""
        print(f"   {backend:<10} {phase} ({what}): {lat_summary(lat)}{wrong}")


def bench_backend_lookups(backend, db, vault, sample, results):
    gc.collect()
    gc.freeze()  # the big lists made so far are never garbage: keep GC passes short
    with timed(f"{backend}: {LOOKUPS:,} lookups cold + warm"):
        results[backend] = bench_lookups(db, vault, sample)
