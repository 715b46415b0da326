"""The two purges: the bare ctid DELETE loop and ``retention.engine.run``, timed per batch."""

from __future__ import annotations

import datetime as dt
import time

import psycopg
from sqlalchemy import event

from bench.harness import libpq, percentile
from bench.purge import BARE_SQL, BATCH, RULE
from bench.purge.data import demo_policies, vault_for
from privacy_service.datamap.collect import Collector
from privacy_service.db import Database, make_engine
from retention import engine as retention


def _summary(batches: list[dict], seconds: float, rows: int) -> dict:
    txns = sorted(b["txn"] for b in batches)
    return {
        "rows": rows,
        "seconds": seconds,
        "rate": rows / seconds if seconds else 0.0,
        "batches": len(batches),
        "txn_max": txns[-1] if txns else 0.0,
        "txn_p50": percentile(txns, 50, empty=float("nan")),
        "txn_p99": percentile(txns, 99, empty=float("nan")),
        "batch_list": batches,
    }


def bare_purge(shop_url: str, cut: dt.datetime) -> dict:
    """The reference: ctid batches with psycopg, one commit each; per-batch timings."""
    statement = BARE_SQL.format(batch=int(BATCH))
    batches = []
    rows = 0
    with psycopg.connect(libpq(shop_url)) as conn:
        plan = [
            r[0]
            for r in conn.execute("EXPLAIN " + statement, {"cutoff": cut}).fetchall()
            if "->" in r[0] or not r[0].startswith(" ")
        ]
        conn.rollback()
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            n = conn.execute(statement, {"cutoff": cut}).rowcount
            t1 = time.perf_counter()
            conn.commit()
            t2 = time.perf_counter()
            if n <= 0:
                break
            rows += n
            batches.append({"rows": n, "txn": t2 - t0, "sql": t1 - t0, "commit": t2 - t1})
        seconds = time.perf_counter() - started
    result = _summary(batches, seconds, rows)
    result["plan"] = plan
    return result


class EngineClock:
    """Per-batch timings of the engine from the shop engine's events and the progress callback."""

    def __init__(self, engine):
        self.batches: list[dict] = []
        self.begun = self.committed = self.sent = 0.0
        self.commits: list[float] = []
        self.sql: dict[str, float] = {}
        self.statements: dict[str, str] = {}
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _begin(self, _conn) -> None:
        self.begun = time.perf_counter()
        self.sql = {}

    def _commit(self, _conn) -> None:
        self.committed = time.perf_counter()
        self.commits.append(self.committed)

    def _before(self, _conn, _cursor, statement, *_args) -> None:
        self.sent = time.perf_counter()

    def _after(self, _conn, _cursor, statement, params, *_args) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        self.sql[verb] = self.sql.get(verb, 0.0) + time.perf_counter() - self.sent
        if verb not in self.statements:
            n = len(params) if isinstance(params, (list, tuple, dict)) else 0
            self.statements[verb] = f"{' '.join(statement.split())[:150]} ... ({n} parameters)"

    def progress(self, rule: str, n: int) -> None:
        now = time.perf_counter()
        self.batches.append(
            {
                "rule": rule,
                "rows": n,
                "txn": now - self.begun,
                "select": self.sql.get("SELECT", 0.0),
                "sql": sum(v for k, v in self.sql.items() if k != "SELECT"),
                "commit": now - self.committed,
                "at": now,
            }
        )


def engine_purge(env: dict[str, str], service_url: str, shop_url: str, now: dt.datetime) -> dict:
    """``retention.engine.run`` over the shop, every rule; the browsing rule's batch timings."""
    policies = demo_policies()
    db = Database(service_url, vault=vault_for(env))  # the run's audit entries are MACed
    shop_engine = make_engine(shop_url)
    collector = Collector(policies.datamap, {"shop": shop_engine})
    collector.table("shop", "browsing_events")  # reflect before the clock (once per collector)
    clock = EngineClock(shop_engine)
    session = db.new_session()
    try:
        started = time.perf_counter()
        record = retention.run(
            collector, policies, session, now=now, batch=BATCH, progress=clock.progress
        )
        seconds = time.perf_counter() - started
        counts, errors, status = record.counts, record.errors, record.status
    finally:
        session.close()
        shop_engine.dispose()
        db.dispose()
    mine = [b for b in clock.batches if b["rule"] == RULE]
    # The rule's span: its first transaction's begin to the commit of the (empty) selection
    # that ends it, the first commit after its last batch.
    span = 0.0
    if mine:
        end = next((t for t in clock.commits if t > mine[-1]["at"]), mine[-1]["at"])
        span = end - (mine[0]["at"] - mine[0]["txn"])
    result = _summary(mine, span, counts.get(RULE, {}).get("browsing_events", 0))
    result.update(
        run_seconds=seconds,
        counts=counts,
        errors=errors,
        status=status,
        all_txn_max=max((b["txn"] for b in clock.batches), default=0.0),
        other_batches=len(clock.batches) - len(mine),
        statements=clock.statements,
    )
    return result


def remaining(shop_url: str, cut: dt.datetime) -> tuple[int, int]:
    with psycopg.connect(libpq(shop_url)) as conn:
        return conn.execute(
            "SELECT count(*) FILTER (WHERE occurred_at < %s), count(*) FROM browsing_events",
            (cut,),
        ).fetchone()
