"""The demo shop: its own database of customers and orders, and their records in the service.

``privacy demo seed`` runs this once: the shop's rows (``generate``), the customers in the
service's directory, and their customs ID numbers in the vault (the shop keeps only document ids).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import privacy_service.models  # noqa: F401 - every table, for create_all
from privacy_service import audit
from privacy_service.db import Base
from privacy_service.demo import shop_schema as shop
from privacy_service.demo import support_desk
from privacy_service.demo.generate import seed_shop
from privacy_service.demo.people import DEMO, Customer, make_customers
from privacy_service.policies import SHIPPED_POLICIES
from privacy_service.subjects import identity
from privacy_service.subjects.directory import register
from privacy_service.subjects.models import Subject

DEMO_EMAIL, DEMO_PHONE, DEMO_NAME = DEMO["email"], DEMO["phone"], DEMO["name"]


@dataclasses.dataclass
class SeedSummary:
    """What a seed created."""

    customers: int
    rows: dict[str, int]
    added: int = 0


def schemas_by_source() -> dict:
    """The demo's own databases by data-map source name (their tables, no rows)."""
    return {"shop": shop.metadata, "support": support_desk.metadata}


def refusal(rt) -> str | None:
    """Why the demo must not be seeded here, or None when it may.

    Only the demo's own data map (the shipped ``policies/datamap.yaml``), and only into source
    databases that hold nothing but the demo's tables: seeding drops and recreates the demo's
    tables, which must never happen to a real shop's database.
    """
    mine = Path(rt.settings.policies_dir) / "datamap.yaml"
    shipped = SHIPPED_POLICIES / "datamap.yaml"
    if not mine.is_file() or mine.read_bytes() != shipped.read_bytes():
        return f"the data map ({mine}) is not the demo's; nothing was written to your sources"
    for name, metadata in schemas_by_source().items():
        engine = rt.sources.get(name)
        if engine is None:
            return f"the data map has no {name!r} source"
        # The service's own tables may share the database (one PostgreSQL database for both).
        foreign = set(inspect(engine).get_table_names()) - set(metadata.tables) - _service_tables()
        if foreign:
            return (
                f"source {name!r} ({rt.policies.datamap.sources[name].url_name}) already holds "
                "tables that are not the demo's; nothing was written"
            )
    return None


def _service_tables() -> set[str]:

    return set(Base.metadata.tables) | {"alembic_version", "audit_head"}


def shop_is_seeded(shop_engine: Engine) -> bool:
    """True when a complete seed is present (the marker row is written last)."""
    if not inspect(shop_engine).has_table("seed_info"):
        return False
    with shop_engine.connect() as conn:
        return conn.execute(select(shop.seed_info.c.seed)).first() is not None


def seed(
    session: Session,
    shop_engine: Engine,
    *,
    customers: int = 50,
    orders_per_customer: int = 12,
    browsing_per_customer: int = 200,
    seed_value: int = 2024,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    support_engine: Engine | None = None,
    reset: bool = False,
) -> SeedSummary | None:
    """Create the demo shop, or grow it to ``customers``; None when it already has that many.

    A seed interrupted half-way (no marker row) is dropped and done again; ``reset`` drops a
    complete one too and starts over. Growing adds customers ``present + 1 .. customers`` (the
    same people a fresh seed of that size would have) with their orders and browsing.
    """
    present = 0 if reset else seeded_customers(shop_engine)
    if present >= customers:
        # Tables a later version added (returns) are created, empty: the data map reads them.
        shop.metadata.create_all(shop_engine)
        return None
    now = now or dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    rng = random.Random(seed_value)  # noqa: S311 - demo data, reproducible on purpose
    people = make_customers(customers, rng)
    id_start = None
    if present:
        people = people[present:]
        id_start = _top_ids(shop_engine)
    else:
        shop.metadata.drop_all(shop_engine)
        shop.metadata.create_all(shop_engine)
    for start in range(0, len(people), 500):
        for person in people[start : start + 500]:
            _register(session, person)
        session.commit()
    rows = seed_shop(
        shop_engine,
        people,
        rng=rng,
        now=now,
        orders_per_customer=orders_per_customer,
        browsing_per_customer=browsing_per_customer,
        progress=progress,
        id_start=id_start,
    )
    if support_engine is not None:
        rows.update(support_desk.seed_desk(support_engine, people, rng=rng, now=now))
    _analyze(shop_engine)
    with shop_engine.begin() as conn:
        conn.execute(shop.seed_info.delete())
        conn.execute(
            shop.seed_info.insert().values(seed=seed_value, customers=customers, seeded_at=now)
        )
    audit.record(
        session,
        "demo.seeded",
        actor="cli:demo-seed",
        details={"customers": customers, "added": len(people), "rows": sum(rows.values())},
    )
    session.commit()
    return SeedSummary(customers=customers, rows=rows, added=len(people))


def _analyze(shop_engine: Engine) -> None:
    """Planner statistics for the rows just written, as a live shop's autovacuum keeps them.

    Without them PostgreSQL guesses a few hundred rows per customer, and reading a customer's
    million browsing rows (an export) starts with a bitmap scan and an on-disk sort of all of
    them, 1-2 s before the first row, instead of an index scan that streams in key order.
    """
    if shop_engine.dialect.name != "postgresql":
        return
    quote = shop_engine.dialect.identifier_preparer.quote
    names = ", ".join(quote(table.name) for table in shop.metadata.sorted_tables)
    with shop_engine.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {names}")


def seeded_customers(shop_engine: Engine) -> int:
    """How many customers a complete seed holds (0: none, or an interrupted one)."""
    if not shop_is_seeded(shop_engine):
        return 0
    with shop_engine.connect() as conn:
        return conn.execute(select(shop.seed_info.c.customers)).scalar() or 0


def _top_ids(shop_engine: Engine) -> dict[str, int]:
    """The highest id of each shop table (new rows continue after them)."""
    with shop_engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.max(table.c.id))).scalar() or 0
            for table in shop.metadata.sorted_tables
            if "id" in table.c
        }


def _register(session: Session, person: Customer) -> None:
    ref = str(person.id)
    subject = session.scalars(select(Subject).where(Subject.external_ref == ref)).first()
    if subject is None:
        subject = register(
            session, email=person.email, phone=person.phone, name=person.name, external_ref=ref
        )
        session.flush()
        audit.record(
            session,
            "subject.registered",
            actor="cli:demo-seed",
            subject_id=subject.id,
            fields=["email", "phone", "name"],
        )
    if person.id_number:
        document = identity.store(
            session,
            service="demo-shop",
            id_number=person.id_number,
            holder_name=person.name,
            subject_id=subject.id,
        )
        person.identity_document_id = document.id
