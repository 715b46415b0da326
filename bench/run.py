"""Intake throughput of ``POST /api/v1/requests`` under gunicorn, SQLite against PostgreSQL.

For each backend: a fresh database (migrated, demo customer seeded) in a temporary instance
directory, gunicorn with 2 workers, and ``bench/loadgen.py`` in a second process on loopback.
Only prints figures; nothing depends on it.

    make bench                                  # or: .venv/bin/python -m bench.run
    BENCH_DATABASE_URL=postgresql+psycopg://user@host/postgres make bench

Settings (environment): BENCH_DURATION (measured seconds, 12), BENCH_WARMUP (2),
BENCH_CONCURRENCY (client connections, 16), BENCH_WORKERS (2), BENCH_THREADS (gthread
threads per worker, 4; 1 = sync workers), BENCH_BACKENDS ("sqlite,postgresql"), BENCH_VAULT
(0 skips bench/vault), BENCH_ONLY (which of vault, collect, export, purge, dashboard, identity,
queue, multisource, load run afterwards, each in its own process; all by default). bench/load
has its own LOAD_* settings (LOAD_SECONDS, 600 by default; LOAD_CLIENTS; see its docstring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from bench.harness import ROOT, BenchError, bench_command, each_backend, env_num, machine
from bench.service import (
    THREADS,
    WORKERS,
    gunicorn,
    log_problems,
    raise_limits,
    run_privacy,
    service_env,
)

DURATION = env_num("BENCH_DURATION", 12.0, float)
WARMUP = env_num("BENCH_WARMUP", 2.0, float)
CONCURRENCY = env_num("BENCH_CONCURRENCY", 16)
BACKENDS = [b.strip() for b in os.environ.get("BENCH_BACKENDS", "sqlite,postgresql").split(",")]


def run_loadgen(url: str) -> dict:
    """Run the load generator in its own process and parse its JSON summary."""
    cmd = [
        *bench_command("loadgen"),
        "--url",
        url,
        "--concurrency",
        str(CONCURRENCY),
        "--warmup",
        str(WARMUP),
        "--duration",
        str(DURATION),
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=WARMUP + DURATION + 120
    )
    if proc.returncode != 0:
        raise BenchError(f"loadgen failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _count_rows(database_url: str) -> dict[str, int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("requests", "audit_entries")
            }
    finally:
        engine.dispose()


def bench_backend(name: str, database_url: str, workdir: Path) -> dict:
    """Migrate, seed, serve and load one backend; the loadgen summary plus a few checks."""
    instance = workdir / name / "instance"
    instance.mkdir(parents=True)
    env = raise_limits(service_env(database_url, instance))
    run_privacy(env, "db", "upgrade")
    run_privacy(env, "demo", "seed")
    log_path = workdir / name / "gunicorn.log"
    with gunicorn(env, log_path) as url:
        result = run_loadgen(url)
    result["log_problems"] = log_problems(log_path)
    result["log_path"] = str(log_path)
    try:
        result["rows"] = _count_rows(database_url)
    except sa.exc.SQLAlchemyError as exc:
        result["rows"] = {"error": str(exc).splitlines()[0]}
    return result


def _row(name: str, r: dict) -> str:
    lat = r["latency_ms"]
    return (
        f"{name:<11} {r['rps']:>8.1f} {lat['p50']:>8.1f} {lat['p99']:>8.1f} "
        f"{r['count']:>9d} {r['errors']:>7d}"
    )


def report(results: dict[str, dict], skipped: dict[str, str]) -> None:
    """Print the table, the ratio line and anything odd."""
    print()
    print(f"{'backend':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}")
    print(f"{'-' * 11} {'-' * 8} {'-' * 8} {'-' * 8} {'-' * 9} {'-' * 7}")
    for name, r in results.items():
        print(_row(name, r))
    for name, why in skipped.items():
        label = "PostgreSQL" if name == "postgresql" else name
        print(f"{label}: skipped ({why})")
    if "sqlite" in results and "postgresql" in results:
        s, p = results["sqlite"], results["postgresql"]
        ratio = p["rps"] / s["rps"] if s["rps"] else float("nan")
        p50 = p["latency_ms"]["p50"] / s["latency_ms"]["p50"] if s["latency_ms"]["p50"] else 0
        p99 = p["latency_ms"]["p99"] / s["latency_ms"]["p99"] if s["latency_ms"]["p99"] else 0
        print(f"PostgreSQL vs SQLite: {ratio:.2f}x req/s, p50 {p50:.2f}x, p99 {p99:.2f}x")
    print()
    for name, r in results.items():
        answered = r["warmup"]["count"] + r["count"]
        accepted = r["warmup"]["ok"] + r["ok"]
        line = (
            f"{name}: {r['seconds']:.1f} s measured after {answered - r['count']} warm-up requests;"
            f" demo-customer share {r['kinds'].get('demo', 0)}/{r['count']};"
            f" p90 {r['latency_ms']['p90']:.1f} ms, max {r['latency_ms']['max']:.1f} ms"
        )
        print(line)
        rows = r.get("rows", {})
        if "error" in rows:
            print(f"  ! could not count rows: {rows['error']}")
        elif rows["requests"] != accepted:
            print(f"  ! {rows['requests']} rows in requests but {accepted} answers were 202")
        else:
            print(
                f"  {accepted} answers were 202 = {rows['requests']} rows in requests (warm-up too)"
            )
        if r["errors"]:
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
            print(f"  ! errors by status: {statuses}")
            for sample in r["error_samples"]:
                print(f"    {sample['status']} ({sample['kind']}): {sample['detail'][:160]!r}")
        if r["log_problems"]:
            print(f"  ! {len(r['log_problems'])} problem lines in the gunicorn log, e.g.:")
            for line in r["log_problems"][:3]:
                print(f"    {line[:160]}")


def main() -> int:
    mode = f"gthread, {THREADS} threads/worker" if THREADS > 1 else "sync workers"
    print("privacy-service intake benchmark: POST /api/v1/requests")
    print(f"machine: {machine()}")
    print(
        f"server: gunicorn --workers {WORKERS} ({mode}); client: bench/loadgen.py in a separate "
        f"process, {CONCURRENCY} keep-alive connections on loopback"
    )
    print(
        f"load: {WARMUP:g} s warm-up + {DURATION:g} s measured per backend; ~10% bodies for the "
        "demo customer (one-time code sent), the rest unknown contacts"
    )
    print(
        "note: server, database and client share this machine; figures are noisy and only "
        "meaningful side by side, measured in one run."
    )
    results, skipped, failed = each_backend(
        BACKENDS,
        bench_backend,
        name="intake",
        errors=(BenchError, subprocess.TimeoutExpired, json.JSONDecodeError),
    )
    report(results, skipped)
    return 1 if failed or not results else 0


# The other benchmarks, each in its own process after the intake one; BENCH_ONLY="vault,export"
# picks some (names: vault, collect, export, purge, dashboard, identity, queue, multisource, load).
# The load test (bench/load) runs last: 10 minutes by default (LOAD_SECONDS).
OTHER_BENCHES = (
    "vault",
    "collect",
    "export",
    "purge",
    "dashboard",
    "identity",
    "queue",
    "multisource",
    "load",
)


def run_other_benches() -> int:
    """Every other benchmark of bench/, one process each; the worst exit status."""
    only = {b for b in os.environ.get("BENCH_ONLY", "").split(",") if b}
    if os.environ.get("BENCH_VAULT", "1") == "0":
        only = only or set(OTHER_BENCHES) - {"vault"}
    status = 0
    for name in OTHER_BENCHES:
        if only and name not in only:
            continue
        print()
        print("-" * 100, flush=True)
        status = max(status, subprocess.run(bench_command(name), cwd=ROOT).returncode)
    return status


if __name__ == "__main__":
    status = main()
    sys.exit(run_other_benches() or status)
