"""The export benchmark's children that need the service: seeding a case, our export as the worker
writes it, dropping a case's database. Each answers with one ``RESULT`` line (``emit``)."""

from __future__ import annotations

import cProfile
import dataclasses
import datetime as dt
import hashlib
import io
import os
import pstats
import time

import sqlalchemy as sa

from bench.export import DEMO_EMAIL, KEYS_ENV, emit
from bench.harness import ROOT, first_line, vault_from_json
from bench.procs import peak_mib, status_mib
from exports.assemble import BATCH_ROWS, build, plan_categories
from exports.storage import LocalStorage
from exports.values import Style
from privacy_service import migrate
from privacy_service.config import DEMO_POLICIES
from privacy_service.crypto.stream import SealedWriter
from privacy_service.datamap.collect import Collector
from privacy_service.db import Database, make_engine, new_id
from privacy_service.demo import seed
from privacy_service.policies import load_policies
from privacy_service.subjects.directory import find_by_contact


def _shop_policies():
    """The demo's policies with the shop as the only SQL source.

    The bench measures the shop's million browsing rows; the demo's support desk (a few rows in a
    database of its own) would need its own engine here and in the bare script, and adds nothing
    to what is compared.
    """
    policies = load_policies(DEMO_POLICIES)
    sources = {
        name: source
        for name, source in policies.datamap.sources.items()
        if source.kind != "sql" or name == "shop"
    }
    datamap = dataclasses.replace(policies.datamap, sources=sources)
    return dataclasses.replace(policies, datamap=datamap)


def setup_main(spec: dict) -> int:
    """Create and seed one shop database and its service database; emit the bare queries."""
    vault = vault_from_json(os.environ[KEYS_ENV])
    if spec["backend"] == "postgresql":
        admin = sa.create_engine(spec["admin_url"], isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{spec["dbname"]}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{spec["dbname"]}"')
        except Exception as exc:
            emit({"skip": first_line(exc)})
            return 0
        finally:
            admin.dispose()
    db = Database(spec["service_url"], vault=vault)
    migrate.upgrade(db.engine)
    shop_engine = make_engine(spec["shop_url"])
    session = db.new_session()
    t0 = time.perf_counter()
    summary = seed(
        session,
        shop_engine,
        customers=1,
        browsing_per_customer=spec["n"],
        orders_per_customer=12,
    )
    seconds = time.perf_counter() - t0
    subject = find_by_contact(session, "email", DEMO_EMAIL)
    vault.data_key(session, subject.id, create=True)
    session.commit()

    # The bare script runs the very SELECTs the collector runs (literal key), per category.
    policies = _shop_policies()
    collector = Collector(policies.datamap, {"shop": shop_engine})
    categories = []
    for plan in plan_categories(policies, None):
        tables = []
        for source in policies.datamap.sources.values():
            if source.kind != "sql":
                continue  # the service's identity vault (one document): the export only
            key = collector.subject_key(source, subject)
            for table in source.tables.values():
                columns = tuple(
                    f.name for f in table.fields if f.category == plan.code and f.export
                )
                if not columns:
                    continue
                stmt = collector.query(source, table, columns, key)
                sql = str(stmt.compile(shop_engine, compile_kwargs={"literal_binds": True}))
                tables.append({"table": table.name, "columns": ["id", *columns], "sql": sql})
        if tables:
            categories.append({"code": plan.code, "tables": tables})
    session.close()
    db.dispose()
    shop_engine.dispose()
    emit({"seed_s": seconds, "rows": summary.rows if summary else {}, "categories": categories})
    return 0


def export_main(spec: dict) -> int:
    """Our export, the way the worker writes it."""
    vault = vault_from_json(os.environ[KEYS_ENV])
    db = Database(spec["service_url"], vault=vault)
    policies = _shop_policies()
    collector = Collector(policies.datamap, {"shop": make_engine(spec["shop_url"])})
    storage = LocalStorage(spec["out_dir"])
    session = db.new_session()
    subject = find_by_contact(session, "email", DEMO_EMAIL)
    aead = vault.data_key(session, subject.id, create=True)
    session.commit()
    request_id = new_id()
    key = f"{request_id}-1.zip.sealed"
    baseline = status_mib("VmRSS")

    def run():
        plans = plan_categories(policies, None)

        def collect(category):
            try:
                yield from collector.collect(
                    session, subject, categories=[category], parent_keys=True, batch_size=BATCH_ROWS
                )
            finally:
                session.commit()

        chunks, manifest = build(
            plans,
            collect,
            request_id=request_id,
            subject=subject.id,
            built_at=dt.datetime.now(dt.UTC),
            style=Style(timezone="Asia/Shanghai", language="zh-CN"),
            recipients=policies.recipients,
        )
        digest, size = hashlib.sha256(), 0
        with storage.writer(key) as fh:
            sealed = SealedWriter(fh, aead, subject.id, name=request_id)
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                sealed.write(chunk)
            sealed.close()
        return size, manifest

    profiler = None
    if spec.get("profile"):
        profiler = cProfile.Profile()
    t0, c0 = time.perf_counter(), time.process_time()
    if profiler:
        size, manifest = profiler.runcall(run)
    else:
        size, manifest = run()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_mib()
    records = sum(sum(t.values()) for t in manifest.counts.values())
    sealed_size = storage.size(key)
    storage.delete(key)
    session.close()
    if profiler:
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(22)
            text = out.getvalue()
            text = text[text.find("   ncalls") :].replace(str(ROOT) + "/", "")
            print(f"--- profile, by {order} (under cProfile: slower than unprofiled) ---")
            print(text, flush=True)
    emit(
        {
            "seconds": seconds,
            "cpu_s": cpu,
            "peak_mb": peak,
            "baseline_mb": baseline,
            "zip_bytes": size,
            "sealed_bytes": sealed_size,
            "records": records,
            "members": len(manifest.files) + 1,
        }
    )
    return 0


def drop_main(spec: dict) -> int:
    """Drop the benchmark's PostgreSQL database."""
    admin = sa.create_engine(spec["admin_url"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{spec["dbname"]}" WITH (FORCE)')
    admin.dispose()
    emit({})
    return 0
