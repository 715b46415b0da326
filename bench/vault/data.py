"""What the vault benchmark's parts share: generated ids and ID numbers, key rings, timing aids."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import random
import time

from bench.harness import percentile
from bench.vault import NAN, REGIONS
from privacy_service.crypto import KeyRing
from privacy_service.crypto.normalize import id_check_character


def lat_summary(latencies_ms: list[float]) -> str:
    s = sorted(latencies_ms)
    return (
        f"p50 {percentile(s, 50, NAN):.2f} ms, p95 {percentile(s, 95, NAN):.2f} ms, "
        f"p99 {percentile(s, 99, NAN):.2f} ms, "
        f"max {s[-1] if s else float('nan'):.2f} ms"
    )


def goal(met: bool) -> str:
    return "met" if met else "MISSED"


@contextlib.contextmanager
def timed(label: str):
    """Print how long a preparation step took (one line, not part of the figures)."""
    t0 = time.perf_counter()
    yield
    print(f"  ({label}: {time.perf_counter() - t0:.1f} s)", flush=True)


@contextlib.contextmanager
def no_gc():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def uuid7_strings(n: int) -> list[str]:
    """``n`` distinct, increasing UUIDv7 strings (what ``new_id`` makes, ~5x faster in bulk)."""
    ms = time.time_ns() // 1_000_000
    start = int.from_bytes(os.urandom(9)) >> 3  # 69 random bits: no overflow of the 74-bit field
    head = (ms << 80) | (7 << 76) | (2 << 62)
    low = (1 << 62) - 1
    out = []
    append = out.append
    for c in range(start, start + n):
        h = f"{head | ((c >> 62) << 64) | (c & low):032x}"
        append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def id_numbers(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct valid 18-character resident ID numbers (GB 11643 check character)."""
    first = dt.date(1950, 1, 1)
    days = 20_000  # birth dates 1950 .. 2004
    dates = [(first + dt.timedelta(days=d)).strftime("%Y%m%d") for d in range(days)]
    seqs = [f"{s:03d}" for s in range(1000)]
    space = len(REGIONS) * days * 1000
    out = []
    append = out.append
    for k in rng.sample(range(space), n):
        k, s = divmod(k, 1000)
        r, d = divmod(k, days)
        first17 = REGIONS[r] + dates[d] + seqs[s]
        append(first17 + id_check_character(first17))
    return out


def make_ring(keks: dict[int, bytes], index_key: bytes, audit_key: bytes) -> KeyRing:
    return KeyRing(keks=keks, default_active=1, index_key=index_key, audit_key=audit_key)
