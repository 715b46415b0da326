"""Timing a page: the statements it runs, its repeated fetches, and the table of verdicts."""

from __future__ import annotations

import re
import statistics
import time

import sqlalchemy as sa

from bench.dashboard import PLAN_LINES, REPEAT, WARMUP
from bench.harness import percentile


class SqlLog:
    """Every statement the app's engine runs while ``on``: (sql, parameters, ms)."""

    def __init__(self, engine):
        self.on = False
        self.entries: list[tuple[str, object, float]] = []
        self._start = 0.0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn, _cursor, _statement, _parameters, _context, _many):
        self._start = time.perf_counter()

    def _after(self, _conn, _cursor, statement, parameters, _context, _many):
        if self.on:
            self.entries.append((statement, parameters, (time.perf_counter() - self._start) * 1e3))

    def take(self) -> list[tuple[str, object, float]]:
        entries, self.entries = self.entries, []
        return entries


def rows_shown(body: str) -> int:
    # One link per row to the request itself (other links carry a suffix or a query).
    return len(re.findall(r'href="/staff/requests/[0-9a-f-]{36}"', body))


def measure(sql: SqlLog, forget, case: tuple) -> dict:
    """Warm up, then time the page REPEAT times, the dashboard's caches emptied before each."""
    name, goal, call, check = case
    for _ in range(WARMUP):
        forget()
        check(call())
    sql.take()
    times, sql_ms, per_stmt = [], [], {}
    for _ in range(REPEAT):
        forget()
        sql.on = True
        t0 = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - t0) * 1e3)
        sql.on = False
        entries = sql.take()
        sql_ms.append(sum(ms for _, _, ms in entries))
        for statement, params, ms in entries:
            per_stmt.setdefault(statement, [params, []])[1].append(ms)
        check(response)
    return {
        "name": name,
        "goal": goal,
        "n": len(times),
        "p50": statistics.median(times),
        "p95": percentile(times, 95),
        "max": max(times),
        "sql_p50": statistics.median(sql_ms),
        "statements": {s: (p, statistics.median(v)) for s, (p, v) in per_stmt.items()},
        "rows": rows_shown(response.get_data(as_text=True)),
    }


def _short_sql(statement: str) -> str:
    text = re.sub(r"SELECT .*? FROM", "SELECT … FROM", " ".join(statement.split()), count=1)
    return text if len(text) <= 240 else text[:239] + "…"


def report(results: list[dict], engine) -> int:
    """The table with each page's verdict; EXPLAIN ANALYZE of the slowest statement of misses."""
    header = (
        f"{'page':<44}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'SQL p50':>9}"
        f"{'rows':>6}{'goal':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = "ok" if r["p95"] < r["goal"] else "MISSED"
        print(
            f"{r['name']:<44}{r['n']:>4}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['max']:>9.1f}"
            f"{r['sql_p50']:>9.1f}{r['rows']:>6}{r['goal']:>7.0f}  {verdict}"
        )
    missed = [r for r in results if r["p95"] >= r["goal"]]
    print()
    print(f"{len(results) - len(missed)} of {len(results)} pages within their goal (p95).")
    explained = set()
    with engine.connect() as conn:
        for r in missed:
            statement, (params, ms) = max(r["statements"].items(), key=lambda kv: kv[1][1])
            print(f"\n{r['name']}: slowest statement, median {ms:.1f} ms of {r['p50']:.1f} ms")
            print(f"  {_short_sql(statement)}")
            if statement in explained:
                print("  (plan as above)")
                continue
            explained.add(statement)
            plan = (
                conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
                .scalars()
                .all()
            )
            for line in plan[:PLAN_LINES]:
                print(f"  | {line}")
            if len(plan) > PLAN_LINES:
                print(f"  | … {len(plan) - PLAN_LINES - 1} more lines …")
                print(f"  | {plan[-1]}")
    return len(missed)
