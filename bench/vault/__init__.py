"""Vault benchmark: field crypto throughput, blind-index lookups, KEK rotation at 1M scale.

1. Field layer: ``Vault.seal`` / ``Vault.open`` over 1,000,000 short values (1,000 owners, data
   keys cached) against the bare loop of ``AESGCM.encrypt`` / ``AESGCM.decrypt`` over the same
   ciphertexts. Goal: open >= 0.5x the bare loop.
2. ``identity.find`` (blind index, then decrypt and compare) among 1,000,000 identity documents
   seeded with COPY, on PostgreSQL and SQLite: p50/p95/p99 with the data-key cache cold (every
   lookup unwraps its subject's key) and warm. Goal: p99 < 5 ms.
3. KEK rotation (``rotation.rewrap``) over 1,000,000 data keys on PostgreSQL while a second
   process keeps doing ``identity.find``. Goal: < 60 s.

Only prints figures; nothing depends on it. Run by ``make bench`` after the intake benchmark,
or alone: ``.venv/bin/python -m bench.vault``. The package: this module (settings), ``data``
(generated rows, timing aids), ``fields`` (1.), ``seed`` and ``lookups`` (2.), ``rotate`` (3.),
``__main__`` (the run and the report).

Settings (environment): BENCH_VAULT_N (values, documents and data keys, 1000000),
BENCH_VAULT_LOOKUPS (2000), BENCH_VAULT_BATCHES (rewrap batch sizes tried, "1000,2500,5000,10000"),
BENCH_VAULT_CALIBRATE_ROWS (rows re-wrapped per batch size and round, 30000),
BENCH_VAULT_CALIBRATE_ROUNDS (2),
BENCH_VAULT_BACKENDS ("sqlite,postgresql" for the lookups), BENCH_DATABASE_URL.
"""

from __future__ import annotations

import os

from bench.harness import env_num

N = env_num("BENCH_VAULT_N", 1_000_000)
LOOKUPS = env_num("BENCH_VAULT_LOOKUPS", 2000)
OWNERS = 1000
BATCHES = [
    int(b) for b in os.environ.get("BENCH_VAULT_BATCHES", "1000,2500,5000,10000").split(",") if b
]
CALIBRATE_ROWS = env_num("BENCH_VAULT_CALIBRATE_ROWS", 30_000)
CALIBRATE_ROUNDS = env_num("BENCH_VAULT_CALIBRATE_ROUNDS", 2)
BACKENDS = [
    b.strip() for b in os.environ.get("BENCH_VAULT_BACKENDS", "sqlite,postgresql").split(",")
]
TABLE, COLUMN = "identity_documents", "id_number_enc"
FORMAT = 2  # envelope format byte, see privacy_service/crypto/vault.py
REGIONS = [  # real county codes: Beijing, Tianjin, Shanghai, Shenzhen, Chengdu, ...
    *("110101", "110105", "120101", "130102", "210102", "310101", "310104", "310115"),
    *("320102", "320583", "330106", "340102", "350203", "370202", "410105", "420106"),
    *("440103", "440305", "500103", "510104"),
]


NAN = float("nan")  # a percentile of no samples
