"""The purge benchmark's tables, goal lines and where a batch's time goes."""

from __future__ import annotations

import json
import re

from bench.harness import yes
from bench.purge import CUSTOMERS, EXPIRED, P99_GOAL, RATIO_GOAL, RULE, TOTAL, TXN_GOAL


def _split(batches: list[dict]) -> str:
    if not batches:
        return "-"
    n = len(batches)
    txn = sum(b["txn"] for b in batches) / n * 1000
    parts = []
    if "select" in batches[0]:
        parts.append(f"SELECT ids {sum(b['select'] for b in batches) / n * 1000:.0f}")
    parts.append(f"DELETE/UPDATE execute {sum(b['sql'] for b in batches) / n * 1000:.0f}")
    parts.append(f"commit {sum(b['commit'] for b in batches) / n * 1000:.0f}")
    rest = txn - sum(
        sum(b.get(k, 0.0) for b in batches) / n * 1000 for k in ("select", "sql", "commit")
    )
    parts.append(f"Python/driver {rest:.0f}")
    return f"{txn:.0f} ms = " + " + ".join(parts) + " ms"


def report(prep: dict, bare: dict, eng: dict, lat: dict, checks: dict) -> bool:
    """Print the tables, the goal lines and the breakdown; False when rows are left over."""
    print()
    print(
        f"{'purge (browsing rule)':<24} {'rows':>10} {'seconds':>8} {'rows/s':>9} "
        f"{'batches':>8} {'txn max':>8} {'txn p99':>8} {'txn p50':>8}"
    )
    print("-" * 91)
    for label, r in (("bare ctid DELETE loop", bare), ("retention.engine.run", eng)):
        print(
            f"{label:<24} {r['rows']:>10,} {r['seconds']:>8.2f} {r['rate']:>9,.0f} "
            f"{r['batches']:>8} {r['txn_max'] * 1000:>6.0f}ms {r['txn_p99'] * 1000:>6.0f}ms "
            f"{r['txn_p50'] * 1000:>6.0f}ms"
        )
    print()
    print(
        f"{'POST /api/v1/requests':<24} {'seconds':>8} {'requests':>9} {'req/s':>7} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99*':>8} {'errors':>7}"
    )
    print("-" * 103)
    for label, key in (
        ("idle", "idle"),
        ("during bare loop", "bare"),
        ("during engine run", "engine"),
    ):
        w = lat[key]
        print(
            f"{label:<24} {w['seconds']:>8.1f} {w['count']:>9} {w['rps']:>7.1f} "
            f"{w['p50']:>8.1f} {w['p90']:>8.1f} {w['p99']:>8.1f} {w['max']:>8.1f} "
            f"{w['p99_sched']:>8.1f} {w['errors']:>7}"
        )
    print("p99* = from the scheduled send time (counts a client thread's own lateness too)")
    ratio = eng["rate"] / bare["rate"] if bare["rate"] else float("nan")
    idle_p99 = lat["idle"]["p99"]
    p99_ratio = lat["engine"]["p99"] / idle_p99 if idle_p99 else float("nan")
    bare_p99_ratio = lat["bare"]["p99"] / idle_p99 if idle_p99 else float("nan")
    ok_rate = ratio >= RATIO_GOAL
    ok_txn = eng["all_txn_max"] < TXN_GOAL
    ok_p99 = p99_ratio < P99_GOAL
    print()
    print(f"goal engine/bare rows/s >= {RATIO_GOAL}: {yes(ok_rate)} ({ratio:.2f})")
    print(
        f"goal longest single transaction < {TXN_GOAL:g} s: {yes(ok_txn)} "
        f"(engine {eng['all_txn_max'] * 1000:.0f} ms over all its {eng['batches']} + "
        f"{eng['other_batches']} batches; bare loop {bare['txn_max'] * 1000:.0f} ms)"
    )
    print(
        f"goal p99 during purge < {P99_GOAL:g} x idle: {yes(ok_p99)} "
        f"({lat['engine']['p99']:.1f} / {idle_p99:.1f} ms = {p99_ratio:.2f}x; "
        f"during the bare loop {bare_p99_ratio:.2f}x)"
    )
    print()
    print(
        "where a batch's time goes (mean per batch, wall clock in this process; execute = "
        "cursor.execute: driver's query conversion, round trip, server; Python/driver = the rest: "
        "SQLAlchemy compilation, fetching, pool):"
    )
    print(f"  bare:   {_split(bare['batch_list'])}")
    print(f"  engine: {_split(eng['batch_list'])}")
    for verb, text in eng["statements"].items():
        print(f"  engine {verb}: {text}")
    plan = (re.sub(r"\s+\(cost=[^)]*\)", "", line).strip() for line in bare["plan"])
    print("  bare plan: " + " | ".join(plan))
    print()
    third = max(1, len(eng["batch_list"]) // 3)
    for label, r in (("bare", bare), ("engine", eng)):
        b = r["batch_list"]
        if len(b) >= 3:
            thirds = [b[:third], b[third:-third], b[-third:]]
            means = ", ".join(f"{sum(x['txn'] for x in t) / len(t) * 1000:.0f}" for t in thirds)
            print(f"{label}: mean batch ms over first / middle / last third: {means}")
    others = {k: v for k, v in eng["counts"].items() if k != RULE}
    print(
        f"engine run: status {eng['status']}, {eng['run_seconds']:.2f} s in all "
        f"(browsing rule {eng['seconds']:.2f} s); other rules: {json.dumps(others)}"
    )
    if eng["errors"]:
        print(f"  ! engine errors: {eng['errors']}")
    good = checks["bare"] == (0, TOTAL - EXPIRED) and checks["engine"] == (0, TOTAL - EXPIRED)
    print(
        f"check: expired/total rows left: bare {checks['bare']}, engine {checks['engine']} "
        f"(expected (0, {TOTAL - EXPIRED})): {'ok' if good else 'MISMATCH'}"
    )
    for key in ("idle", "bare", "engine"):
        if lat[key]["errors"]:
            print(f"  ! {key}: {lat[key]['errors']} non-202 answers: {lat[key]['statuses']}")
    for detail in lat["details"][:3]:
        print(f"    e.g. {detail[:160]!r}")
    print(
        f"setup: seed {prep['seed']:.1f} s ({CUSTOMERS} customers), COPY {prep['copy']:.1f} s, "
        f"VACUUM ANALYZE {prep['vacuum']:.1f} s, clone {prep['clone']:.1f} s; "
        f"browsing_events {prep['size']} (table + indexes)"
    )
    return good
