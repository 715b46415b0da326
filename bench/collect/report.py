"""The collection benchmark's tables and goal lines."""

from __future__ import annotations

from bench.collect import CHECKPOINT, CUSTOMERS, PEAK_GOAL_MB, RATIO_GOAL, ROWS
from bench.harness import yes


def report(results: dict[str, dict], skipped: dict[str, str]) -> bool:
    """Print the tables and the goal lines; True when every goal is met."""
    print()
    header = (
        f"{'backend':<11} {'rows':>9} {'collector rows/s':>17} {'bare rows/s':>12} "
        f"{'ratio':>6} {'collector peak MB':>18} {'bare peak MB':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        c, b = r["collector"], r["bare"]
        ratio = c["rate"] / b["rate"] if b["rate"] else float("nan")
        r["ratio"] = ratio
        print(
            f"{name:<11} {c['rows']:>9,} {c['rate']:>17,.0f} {b['rate']:>12,.0f} "
            f"{ratio:>6.2f} {c['peak_mb']:>18.1f} {b['peak_mb']:>13.1f}"
        )
    for name, why in skipped.items():
        print(f"{name}: skipped ({why})")
    print()
    print("memory (RSS, MB): base = after imports and setup, before the first row;")
    print(f"peak@{CHECKPOINT // 1000}k = high-water mark after the first {CHECKPOINT:,} rows")
    print(
        "gc = seconds in the cyclic garbage collector (full collections: count, seconds); "
        "objects = objects it tracks before the first row"
    )
    print(
        f"{'backend':<11} {'measurement':<22} {'base':>7} {f'peak@{CHECKPOINT // 1000}k':>10} "
        f"{'peak@end':>9} {'growth':>7} {'rows':>10} {'seconds':>8} {'gc s':>6} "
        f"{'full gc':>12} {'objects':>8}"
    )
    for name, r in results.items():
        for label, key in (
            ("collector browsing", "collector"),
            ("bare SELECT", "bare"),
            ("collector all categ.", "all"),
        ):
            m = r[key]
            at_checkpoint = f"{m['checkpoint_mb']:.1f}" if m["checkpoint_mb"] is not None else "-"
            print(
                f"{name:<11} {label:<22} {m['base_mb']:>7.1f} {at_checkpoint:>10} "
                f"{m['peak_mb']:>9.1f} {m['peak_mb'] - m['base_mb']:>+7.1f} "
                f"{m['rows']:>10,} {m['seconds']:>8.2f} {m['gc_seconds']:>6.2f} "
                f"{m['gc_full']:>4} {m['gc_full_seconds']:>5.2f} s {m['tracked_objects']:>8,}"
            )
    print()
    ok = True
    for name, r in results.items():
        c, b, a = r["collector"], r["bare"], r["all"]
        s = r["seed"]
        rate_ok = r["ratio"] >= RATIO_GOAL
        peak_ok = max(c["peak_mb"], a["peak_mb"]) < PEAK_GOAL_MB
        flat = c["checkpoint_mb"] is not None and c["peak_mb"] - c["checkpoint_mb"] < 10
        ok = ok and rate_ok and peak_ok
        print(f"{name}:")
        runs = "; ".join(
            f"{label} " + ", ".join(f"{rate:,.0f}" for rate in m["rates"])
            for label, m in (("collector", c), ("bare", b))
        )
        print(f"  ratio >= {RATIO_GOAL}: {yes(rate_ok)} ({r['ratio']:.2f}; rows/s by run: {runs})")
        print(
            f"  peak < {PEAK_GOAL_MB:.0f} MB: {yes(peak_ok)} "
            f"(browsing {c['peak_mb']:.1f} MB, all categories {a['peak_mb']:.1f} MB)"
        )
        if c["checkpoint_mb"] is not None:
            print(
                f"  flat: {yes(flat)} (peak {c['checkpoint_mb']:.1f} MB after "
                f"{c['checkpoint_rows']:,} rows, {c['peak_mb']:.1f} MB after {c['rows']:,})"
            )
        print(
            f"  garbage collector: {c['gc_seconds']:.2f} s of the collector's {c['seconds']:.2f} s "
            f"({c['gc_seconds'] / c['seconds']:.0%}), {c['gc_full']} full collections over "
            f"~{c['tracked_objects']:,} tracked objects ({c['gc_full_seconds']:.2f} s); "
            f"bare SELECT {b['gc_seconds']:.2f} s"
        )
        if c["rows"] != b["rows"]:
            ok = False
            print(f"  ! collector gave {c['rows']:,} browsing rows, bare SELECT {b['rows']:,}")
        print(
            f"  all categories: {a['rows']:,} rows in {a['seconds']:.2f} s "
            f"({a['rate']:,.0f} rows/s, {a['rows'] - c['rows']:,} beyond browsing)"
        )
        print(
            f"  seed: {s['seconds']:.1f} s for {CUSTOMERS} customers x {ROWS:,} browsing rows "
            f"({sum(s['rows'].values()):,} shop rows), then ANALYZE {s['analyze']:.1f} s"
        )
        if not c["peak_reset"]:
            print("  (peak could not be reset after start-up: peaks include start-up)")
    for name, r in results.items():
        if "profile" in r:
            p = r["profile"]
            print()
            print(
                f"--- {name}: collector under cProfile ({p['rows']:,} rows, {p['seconds']:.2f} s)"
            )
            print(p["profile"].rstrip())
    return ok
