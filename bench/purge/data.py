"""The PostgreSQL server's scratch databases, and the shop seeded with its browsing rows."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import sys
import time

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.harness import BenchError, first_line, libpq
from bench.purge import CUSTOMERS, EXPIRED, ORDERS, RULE, TOTAL
from privacy_service import demo, migrate
from privacy_service.config import DEMO_POLICIES, Settings
from privacy_service.crypto import Vault, load_keyring
from privacy_service.db import Database, make_engine
from privacy_service.demo.generate import PRODUCTS, SEARCHES
from privacy_service.policies import load_policies
from retention.engine import cutoff


class Server:
    """The PostgreSQL server: databases created here are dropped (WITH (FORCE)) by ``close``."""

    def __init__(self, base_url: str):
        self.base = make_url(base_url)
        self.admin = sa.create_engine(
            self.base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        self.created: list[str] = []
        self.tag = secrets.token_hex(4)

    def sql(self, statement: str):
        with self.admin.connect() as conn:
            result = conn.execute(sa.text(statement))
            return result.scalar() if result.returns_rows else None

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def create(self, role: str, template: str | None = None) -> tuple[str, str]:
        name = f"privacy_bench_retention_{self.tag}_{role}"
        clause = ""
        if template:
            clause = f' TEMPLATE "{template}"'
            if self.version_num() >= 150000:
                clause += " STRATEGY FILE_COPY"  # copy the files, not a WAL record per block
        self.created.append(name)
        self.sql(f'CREATE DATABASE "{name}"{clause}')
        return name, self.url(name)

    def drop(self, name: str) -> None:
        try:
            self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except sa.exc.SQLAlchemyError as exc:
            print(f"warning: could not drop {name}: {first_line(exc)}", file=sys.stderr)
            return
        if name in self.created:
            self.created.remove(name)

    def version_num(self) -> int:
        return int(self.sql("SHOW server_version_num"))

    def checkpoint(self) -> bool:
        try:
            self.sql("CHECKPOINT")
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.dispose()


# --- seeding ------------------------------------------------------------------------------------


def vault_for(env: dict[str, str]) -> Vault:
    """The service's vault, from the same environment gunicorn gets."""
    return Vault(load_keyring(Settings.load(env)))


def _shapes() -> list[str]:
    shapes = [f"search\t{q}\t\\N" for q in SEARCHES]
    for kind in ("view", "view", "click"):
        shapes += [f"{kind}\t\\N\t{sku}" for sku, *_ in PRODUCTS]
    return shapes


def copy_browsing(shop_url: str, cut: dt.datetime) -> float:
    """COPY TOTAL rows, EXPIRED of them (at random) older than ``cut``, the rest younger."""
    rng = random.Random(2024)  # reproducible on purpose
    hour = dt.timedelta(hours=1)
    # Hour prefixes: expired = up to two years before the cut-off (at least 1 h before it),
    # kept = from the cut-off to a day before now; minutes and seconds are added at random.
    old = [(cut - (h + 1) * hour).strftime("%Y-%m-%d %H") for h in range(2 * 8760)]
    young = [(cut + h * hour).strftime("%Y-%m-%d %H") for h in range(8760 - 24)]
    mmss = [f"{m:02d}:{s:02d}+00" for m in range(60) for s in range(60)]
    shapes = _shapes()
    per_customer = -(-TOTAL // CUSTOMERS)
    devices = [f"dev-{c:08x}" for c in range(CUSTOMERS + 1)]
    left, left_expired = TOTAL, EXPIRED
    choice, rand = rng.choice, rng.random
    started = time.perf_counter()
    columns = "id, customer_id, kind, query, sku, device_id, occurred_at"
    with (
        psycopg.connect(libpq(shop_url)) as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY browsing_events ({columns}) FROM STDIN") as copy,
    ):
        lines: list[str] = []
        for i in range(1, TOTAL + 1):
            c = (i - 1) // per_customer + 1
            if rand() * left < left_expired:  # selection sampling: exactly EXPIRED rows
                left_expired -= 1
                prefix = choice(old)
            else:
                prefix = choice(young)
            left -= 1
            lines.append(f"{i}\t{c}\t{choice(shapes)}\t{devices[c]}\t{prefix}:{choice(mmss)}\n")
            if len(lines) >= 50_000:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))
    return time.perf_counter() - started


def prepare(env: dict[str, str], service_url: str, shop_url: str, now: dt.datetime) -> dict:
    """Migrate the service database, seed the shop, COPY the browsing rows, VACUUM ANALYZE."""
    db = Database(service_url, vault=vault_for(env))
    shop_engine = make_engine(shop_url)
    timings = {}
    try:
        migrate.upgrade(db.engine)
        session = db.new_session()
        started = time.perf_counter()
        summary = demo.seed(
            session,
            shop_engine,
            customers=CUSTOMERS,
            orders_per_customer=ORDERS,
            browsing_per_customer=0,
            now=now,
        )
        session.close()
        if summary is None:
            raise BenchError("the shop database was already seeded")
        timings["seed"] = time.perf_counter() - started
        timings["rows"] = summary.rows
    finally:
        shop_engine.dispose()
        db.dispose()
    timings["copy"] = copy_browsing(shop_url, cutoff(now, browsing_rule().period))
    started = time.perf_counter()

    with psycopg.connect(libpq(shop_url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        timings["size"] = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('browsing_events'))"
        ).fetchone()[0]
        timings["expired"], timings["total"] = conn.execute(
            "SELECT count(*) FILTER (WHERE occurred_at < %s), count(*) FROM browsing_events",
            (cutoff(now, browsing_rule().period),),
        ).fetchone()
    timings["vacuum"] = time.perf_counter() - started
    return timings


_POLICIES = None


def demo_policies():
    global _POLICIES
    if _POLICIES is None:
        _POLICIES = load_policies(DEMO_POLICIES)
    return _POLICIES


def browsing_rule():
    return next(r for r in demo_policies().retention.rules if r.id == RULE)
