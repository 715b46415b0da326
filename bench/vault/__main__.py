"""The vault benchmark's run: the three parts in order, then the report (bench/vault/__init__.py).

.venv/bin/python -m bench.vault      (and, as the rotation's second process, --lookup-worker)
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

import sqlalchemy as sa

from bench.harness import DEFAULT_PG_URL, first_line, machine, percentile, postgres_database
from bench.vault import BACKENDS, LOOKUPS, NAN, N
from bench.vault.data import goal, id_numbers, make_ring, no_gc, timed
from bench.vault.fields import bench_fields, report_fields
from bench.vault.lookups import bench_backend_lookups, report_lookups
from bench.vault.rotate import bench_rotation, lookup_worker_main, report_rotation
from bench.vault.seed import Seed, checkpoint, register_version, seed_postgresql, seed_sqlite
from privacy_service import migrate
from privacy_service.crypto import Vault
from privacy_service.db import Database


def run_postgresql(url: str, vault: Vault, seed: Seed, lite_seed, keys: dict, state: dict):
    """Seed PostgreSQL, its lookups; then ``lite_seed`` (reuses the rows); then rotation."""
    pg = Database(url, vault=vault)
    try:
        migrate.upgrade(pg.engine)
        register_version(pg, vault)
        with no_gc(), timed(f"postgresql: generating + COPY of {N:,} subjects"):
            state["pg_seed"] = seed_postgresql(pg, seed)
        state["pg_seed"]["checkpoint"] = checkpoint(pg)
        bench_backend_lookups("postgresql", pg, vault, state["sample"], state["lookups"])
        lite_seed()  # SQLite from the same rows while they are in memory, and its lookups
        print("running 3. rotation on postgresql ...", flush=True)
        state["rotation"] = bench_rotation(
            pg, url, keys, (vault.keyring.index_key, vault.keyring.audit_key), state["worker"]
        )
    finally:
        pg.dispose()


def run_sqlite(path: Path, vault: Vault, seed: Seed, state: dict) -> None:
    """Seed SQLite (from the rows PostgreSQL got, if any), then the lookups."""
    lite_vault = Vault(vault.keyring, cache_size=2_000_000, cache_seconds=3600)
    lite = Database(f"sqlite:///{path}", vault=lite_vault)
    try:
        migrate.upgrade(lite.engine)
        register_version(lite, lite_vault)
        lite.dispose()
        if not seed.documents:
            with no_gc(), timed(f"generating {N:,} subjects' rows"):
                for _ in seed.generate():
                    pass
        t0 = time.perf_counter()
        with no_gc(), timed(f"sqlite: inserting {N:,} subjects"):
            seed_sqlite(path, seed)
            os.sync()  # write the file back now, not during the timed lookups and rotation
        state["lite_seed"] = time.perf_counter() - t0
        seed.data_keys, seed.documents = [], []  # free the rows
        bench_backend_lookups("sqlite", lite, lite_vault, state["sample"], state["lookups"])
    finally:
        lite.dispose()


def main() -> int:
    print("privacy-service vault benchmark: field crypto, blind-index lookups, KEK rotation")
    print(f"machine: {machine()}; N = {N:,}")
    print("note: database, bench and lookup worker share this machine; compare side by side.")
    wall = time.perf_counter()
    rng = random.Random()
    with timed(f"generating {N:,} valid resident ID numbers"):
        numbers = id_numbers(N, rng)
    failed = False
    skipped: dict[str, str] = {}
    state: dict = {
        "lookups": {},
        "sample": rng.sample(numbers, min(LOOKUPS, N)),
        "worker": rng.sample(numbers, min(200_000, N)),
    }
    with tempfile.TemporaryDirectory(prefix="privacy-vault-bench-") as tmp:
        workdir = Path(tmp)
        print("running 1. field layer (SQLite file for the owners' data keys) ...", flush=True)
        fields = bench_fields(workdir, numbers)

        keys = {1: os.urandom(32), 2: os.urandom(32), 3: os.urandom(32)}
        ring = make_ring({1: keys[1]}, os.urandom(32), os.urandom(32))
        vault = Vault(ring, cache_size=2_000_000, cache_seconds=3600)
        seed = Seed(numbers, vault)
        lite_path = workdir / "lookups.db"

        def lite_seed():
            if "sqlite" in BACKENDS and "sqlite" not in state["lookups"]:
                print("running 2. on sqlite ...", flush=True)
                try:
                    run_sqlite(lite_path, vault, seed, state)
                except Exception as exc:
                    skipped["sqlite"] = f"failed: {type(exc).__name__}: {first_line(exc)}"
                    traceback.print_exc()
            seed.data_keys, seed.documents = [], []  # free the rows

        if "postgresql" in BACKENDS:
            base_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
            try:
                with postgres_database(base_url) as (url, version):
                    print(f"running 2. on postgresql (server {version}) ...", flush=True)
                    try:
                        run_postgresql(url, vault, seed, lite_seed, keys, state)
                    except Exception as exc:
                        failed = True
                        skipped["postgresql"] = f"failed: {type(exc).__name__}: {first_line(exc)}"
                        traceback.print_exc()
            except sa.exc.SQLAlchemyError as exc:
                if "postgresql" not in skipped:
                    skipped["postgresql"] = f"unreachable: {first_line(exc)}"
        if "sqlite" not in skipped:
            lite_seed()  # PostgreSQL skipped or failed before it

    lookups, rot = state["lookups"], state.get("rotation")
    print()
    report_fields(fields)
    print()
    print(
        f"2. identity.find among {N:,} identity documents: {LOOKUPS:,} random existing numbers, "
        "each in a fresh session (pool checkout with pre-ping included)"
    )
    if "pg_seed" in state:
        t = state["pg_seed"]
        fk = "FK trigger skipped during the load" if t["fk_skipped"] else "FK checked per row"
        print(
            f"   seeding PostgreSQL: generate + COPY {t['copy']:.1f} s ({fk}), VACUUM ANALYZE "
            f"{t['vacuum']:.1f} s, CHECKPOINT {t.get('checkpoint', float('nan')):.1f} s"
        )
    if "lite_seed" in state:
        print(f"   seeding SQLite: executemany of the same rows + sync {state['lite_seed']:.1f} s")
    for backend in ("postgresql", "sqlite"):
        if backend in lookups:
            report_lookups(backend, lookups[backend])
    for name, why in skipped.items():
        print(f"   {'PostgreSQL' if name == 'postgresql' else name}: skipped ({why})")
    if "postgresql" in lookups:
        cold = percentile(sorted(lookups["postgresql"]["cold"]["latencies"]), 99, NAN)
        warm = percentile(sorted(lookups["postgresql"]["warm"]["latencies"]), 99, NAN)
        print(
            f"   PostgreSQL p99: cold {cold:.2f} ms (goal < 5 ms: {goal(cold < 5)}), "
            f"warm {warm:.2f} ms (goal < 5 ms: {goal(warm < 5)})"
        )
    if "sqlite" in lookups and "postgresql" in lookups:
        s = sorted(lookups["sqlite"]["cold"]["latencies"])
        p = sorted(lookups["postgresql"]["cold"]["latencies"])
        print(
            "   PostgreSQL vs SQLite (cold): "
            f"p50 {percentile(p, 50, NAN) / percentile(s, 50, NAN):.2f}x, "
            f"p99 {percentile(p, 99, NAN) / percentile(s, 99, NAN):.2f}x"
        )
    print()
    print(f"3. KEK rotation over {N:,} data keys on PostgreSQL, lookups from a second process")
    if rot is not None:
        report_rotation(rot)
    else:
        print(f"   PostgreSQL: skipped ({skipped.get('postgresql', 'not run')})")
    print()
    print(f"whole vault benchmark: {time.perf_counter() - wall:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--lookup-worker"]:
        sys.exit(lookup_worker_main())
    sys.exit(main())
