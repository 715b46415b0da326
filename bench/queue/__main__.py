"""The task queue benchmark's run: a) on both stores, b) for every layout and size, the goal
lines (settings: bench/queue/__init__.py).

    .venv/bin/python -m bench.queue        (the consumer child: --consume SPEC)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from bench.harness import DEFAULT_PG_URL, postgres_database
from bench.queue import LAYOUTS, RUNS, SAMPLES, SIZES, seed_arguments
from bench.queue.end_to_end import end_to_end
from bench.queue.latency import consume_main, latency

CASES = {
    "demo": ("demo customer", [], RUNS, 1.0, ("make-run", "production")),
    "10k": ("10,000 rows", seed_arguments(10_000), RUNS, 1.0, ("make-run", "production")),
    "100k": ("100,000 rows", seed_arguments(100_000), 3, 2.0, ("make-run", "production")),
    "1m": ("1,000,000 rows", seed_arguments(1_000_000), 1, 10.0, ("production",)),
}


def main() -> int:
    print("privacy-service task queue benchmark")
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        work = Path(tmp)
        print(f"\ncommit -> task start ({SAMPLES} tasks, idle queue, consumer in another process)")
        print("  store           | p50 ms | p99 ms | max ms")
        for kind in ("sqlite", "redis"):
            try:
                r = latency(kind, work)
            except Exception as exc:  # a store that is down is reported, the rest still runs
                print(f"  {kind:15} | FAILED: {exc}")
                outcomes.append(False)
                continue
            print(
                f"  {kind:15} | {r['p50'] * 1000:6.1f} | {r['p99'] * 1000:6.1f} | "
                f"{r['max'] * 1000:6.1f} | slowest (sample, ms) {r['slowest']}"
            )
            if kind == "redis":
                outcomes.append(r["p99"] < 0.1)
                print(f"  goal p99 < 100 ms on Redis: {'yes' if r['p99'] < 0.1 else 'NO'}")
        print("\nverified -> export downloadable over HTTP (p50 of the runs, after a warm-up)")
        print(
            "  layout                                   | case           | runs | p50 s | min s "
            "| max s | goal | of which commit -> build start, p50 ms"
        )
        goals = []
        for layout in LAYOUTS:
            for size in SIZES:
                case, seed_args, runs, goal, layouts = CASES[size]
                if layout not in layouts:
                    continue
                where = work / f"{layout}-{case.replace(' ', '_').replace(',', '')}"
                try:
                    with contextlib.ExitStack() as stack:
                        if layout == "production":
                            pg = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
                            url, _ = stack.enter_context(postgres_database(pg, "bench_queue"))
                            label = "PostgreSQL + Redis + privacy worker"
                        else:
                            url = f"sqlite:///{where / 'privacy.db'}"
                            where.mkdir(parents=True)
                            label = "make run: SQLite + SQLite queue + worker"
                        where.mkdir(parents=True, exist_ok=True)
                        r = end_to_end(layout, url, where, seed_args, runs)
                except Exception as exc:
                    print(f"  {layout:40} | {case:14} | FAILED: {str(exc)[:200]}")
                    outcomes.append(False)
                    continue
                met = r["p50"] < goal
                print(
                    f"  {label:40} | {case:14} | {runs:4} | {r['p50']:5.2f} | {r['min']:5.2f} | "
                    f"{r['max']:5.2f} | {'<' if met else 'NOT <'} {goal:g} s | "
                    f"{r['wait_p50'] * 1000:.0f}"
                )
                goals.append(met)
        outcomes.extend(goals)
        print(f"\nverified -> downloadable goals met: {'yes' if all(goals) else 'NO'}")
    print(f"all goals met: {'yes' if all(outcomes) else 'NO'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--consume":
        sys.exit(consume_main(json.loads(sys.argv[2])))
    sys.exit(main())
