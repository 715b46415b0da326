"""3. KEK rotation (``rotation.rewrap``): the batch size calibrated, then a whole rotation while a
second process (``python -m bench.vault --lookup-worker``) keeps looking documents up."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import threading
import time

import sqlalchemy as sa

from bench.harness import ROOT, bench_command, first_line, percentile
from bench.vault import BATCHES, CALIBRATE_ROUNDS, CALIBRATE_ROWS, NAN, N
from bench.vault.data import goal, lat_summary, make_ring
from bench.vault.lookups import lookup_once
from privacy_service.crypto import KeyRing, Vault
from privacy_service.db import Database
from privacy_service.keys import rotation


def rewrap(db: Database, vault: Vault, version: int, **kwargs) -> rotation.RotationResult:
    return rotation.rewrap(db.new_session, vault, version, **kwargs)


def activate(db: Database, vault: Vault, version: int) -> None:
    session = db.new_session()
    try:
        vault.activate(session, version)
        session.commit()
    finally:
        session.close()


def pending(db: Database, version: int) -> int:
    with db.new_session() as session:
        return rotation.pending_count(session, version)


def count_version(db: Database, version: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM data_keys WHERE kek_version = :v"), {"v": version}
        ).scalar_one()


def calibrate_rows() -> int:
    """Keys per batch size and round: CALIBRATE_ROWS, or less when N is small (half of N)."""
    return min(CALIBRATE_ROWS, max(max(BATCHES), N // (2 * len(BATCHES) * CALIBRATE_ROUNDS)))


def calibrate(db: Database, vault: Vault, version: int) -> dict[int, float]:
    """rows/s of rewrap to ``version`` per batch size: CALIBRATE_ROUNDS rounds (order reversed
    every other round), each size over the next CALIBRATE_ROWS keys; the best round counts.
    Each timing includes rewrap's closing remaining-count query, the same for every size."""
    rates: dict[int, float] = dict.fromkeys(BATCHES, 0.0)
    rows = calibrate_rows()
    for round_ in range(CALIBRATE_ROUNDS):
        for batch in BATCHES if round_ % 2 == 0 else BATCHES[::-1]:
            batches = max(1, rows // batch)
            t0 = time.perf_counter()
            result = rewrap(db, vault, version, batch=batch, max_batches=batches)
            elapsed = time.perf_counter() - t0
            rates[batch] = max(rates[batch], result.rewrapped / elapsed if elapsed else 0.0)
    return rates


class LookupWorker:
    """``python -m bench.vault --lookup-worker``, its own process: identity.find until told."""

    def __init__(self, url: str, ring: KeyRing, numbers: list[str]):
        self.proc = subprocess.Popen(
            bench_command("vault", "--lookup-worker"),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        config = {
            "url": url,
            "keks": {str(v): b64(k) for v, k in ring.keks.items()},
            "index_key": b64(ring.index_key),
            "audit_key": b64(ring.audit_key),
            "numbers": numbers,
        }
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"lookup worker did not start: {line}{self.proc.stderr.read()}")

    def stop(self) -> dict:
        out, err = self.proc.communicate("stop\n", timeout=60)
        if self.proc.returncode != 0:
            raise RuntimeError(f"lookup worker failed ({self.proc.returncode}): {err[-2000:]}")
        return json.loads(out)


def lookup_worker_main() -> int:
    """The worker: read config from stdin, say ready, look up until 'stop' (or EOF)."""
    config = json.loads(sys.stdin.readline())
    d = base64.b64decode
    ring = KeyRing(
        keks={int(v): d(k) for v, k in config["keks"].items()},
        default_active=1,
        index_key=d(config["index_key"]),
        audit_key=d(config["audit_key"]),
    )
    vault = Vault(ring)  # the service's default cache: 50,000 keys, 300 s
    db = Database(config["url"], vault=vault)
    numbers = config["numbers"]
    stop = threading.Event()

    def wait_for_stop():
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    rng = random.Random()
    for number in rng.sample(numbers, 20):
        lookup_once(db, number)
    print("ready", flush=True)
    starts, latencies, errors, samples = [], [], 0, []
    while not stop.is_set():
        number = numbers[rng.randrange(len(numbers))]
        started = time.time()
        try:
            ms, found = lookup_once(db, number)
            if found != 1:
                raise RuntimeError(f"found {found} documents, expected 1")
        except Exception as exc:
            ms = (time.time() - started) * 1000
            errors += 1
            if len(samples) < 5:
                samples.append(f"{type(exc).__name__}: {first_line(exc)}")
            starts.append(-started)  # negative start marks an error
        else:
            starts.append(started)
        latencies.append(round(ms, 4))
    db.dispose()
    print(json.dumps({"starts": starts, "latencies": latencies, "errors": samples}))
    return 0


def window(worker: dict, t0: float, t1: float) -> dict:
    """The worker's lookups that started within [t0, t1]."""
    lat, errors = [], 0
    for start, ms in zip(worker["starts"], worker["latencies"], strict=True):
        if t0 <= abs(start) <= t1:
            lat.append(ms)
            errors += start < 0
    return {"latencies": lat, "errors": errors, "seconds": t1 - t0}


def bench_rotation(db: Database, url: str, keys: dict, ring_keys: tuple, numbers: list[str]):
    """Calibrate the batch size (to version 2), then rotate everything to version 3."""
    index_key, audit_key = ring_keys
    ring = make_ring(keys, index_key, audit_key)
    # The rotation's own vault (versions 1-3), passed explicitly: the database's sessions keep
    # the lookups' vault (same index and audit keys), as a process started before the rotation.
    vault = Vault(ring, cache_size=2_000_000, cache_seconds=3600)
    activate(db, vault, 2)
    rates = calibrate(db, vault, 2)
    best = max(rates, key=rates.get)
    activate(db, vault, 3)
    total = pending(db, 3)
    worker = LookupWorker(url, ring, numbers)
    try:
        time.sleep(3)  # the worker's figures before rotation, for comparison
        t0 = time.time()
        started = time.perf_counter()
        last_batch = [started, 0]

        def progress(_rows: int) -> None:
            last_batch[:] = [time.perf_counter(), last_batch[1] + 1]

        result = rewrap(db, vault, 3, batch=best, progress=progress)
        elapsed = time.perf_counter() - started
        t1 = time.time()
        time.sleep(0.2)
    finally:
        stats = worker.stop()
    return {
        "rates": rates,
        "best": best,
        "total": total,
        "result": result,
        "seconds": elapsed,
        "batches": last_batch[1],
        "tail": started + elapsed - last_batch[0],
        "pending_after": pending(db, 3),
        "on_v3": count_version(db, 3),
        "before": window(stats, t0 - 3, t0),
        "during": window(stats, t0, t1),
        "error_samples": stats["errors"],
    }


def report_rotation(r: dict) -> None:
    rates = ", ".join(f"{b}: {rate:,.0f}" for b, rate in r["rates"].items())
    print(
        f"   batch size (rewrap to v2, best of {CALIBRATE_ROUNDS} rounds of "
        f"{calibrate_rows():,} keys each, rows/s): {rates}"
        f" -> batch={r['best']}"
    )
    res = r["result"]
    rate = res.rewrapped / r["seconds"] if r["seconds"] else 0.0
    print(
        f"   rotation to v3: {res.rewrapped:,} of {r['total']:,} data keys re-wrapped in "
        f"{r['seconds']:.1f} s ({rate:,.0f} rows/s), {r['batches']} batches of {r['best']}"
        f" + {r['tail']:.1f} s after the last one (the pass from the start, remaining count)"
    )
    print(
        f"   pending_count(v3) afterwards = {r['pending_after']} "
        f"({'ok' if r['pending_after'] == 0 else 'NOT 0'}), {r['on_v3']:,} keys on v3"
    )
    d, b = r["during"], r["before"]
    n_during = len(d["latencies"])
    print(
        f"   lookups kept answering: {n_during:,} lookups "
        f"({n_during / d['seconds'] if d['seconds'] else 0:,.0f}/s), "
        f"p99 {percentile(sorted(d['latencies']), 99, NAN):.2f} ms, {d['errors']} errors "
        f"(during rotation; {lat_summary(d['latencies'])})"
    )
    print(
        f"   same worker in the 3 s before rotation: {len(b['latencies']):,} lookups, "
        f"{lat_summary(b['latencies'])}, {b['errors']} errors"
    )
    for sample in r["error_samples"]:
        print(f"   ! lookup error: {sample}")
    print(f"   rotation of {r['total']:,} keys: {r['seconds']:.1f} s (goal < 60 s: ", end="")
    print(f"{goal(r['seconds'] < 60 and r['pending_after'] == 0)})")
