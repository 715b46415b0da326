"""Export benchmark: one customer with N browsing rows, our export beside a bare script.

For each backend of the shop database (SQLite, PostgreSQL) and each N (100,000 and 1,000,000
browsing events, plus the demo customer's orders and the rest), a fresh shop database is seeded
with ``privacy_service.demo.seed`` (one customer, demo@example.com), and then, each in its own
child process so that the peak RSS (``ru_maxrss``) belongs to one measurement only:

a) our export, exactly as ``exports.worker._write`` builds it: ``plan_categories`` for every
   category, ``Collector.collect`` per category, ``exports.assemble.build`` (JSON, CSV and HTML
   members, manifest, ZIP64 via stream-zip, deflate level 6), every chunk hashed and sealed with
   ``SealedWriter`` under the subject's data key into ``LocalStorage`` (fsync, rename);
b) the limit: a bare script that runs the same SELECTs with the plain driver (sqlite3, psycopg
   server-side cursor), writes each category as JSON (``json.dumps`` per row) and as CSV
   (``csv.writer``) into a stdlib ``zipfile.ZipFile`` (ZIP_DEFLATED level 6, ``force_zip64``)
   on a file it cannot seek, and fsyncs it. No encryption, no hashing, no HTML, no manifest.

Goals (the issue): peak RSS under 200 MB at 1,000,000 rows and at 100,000; wall time within 2x
of the bare script. Only prints figures; nothing depends on it.

    .venv/bin/python -m bench.export

Settings (environment): BENCH_EXPORT_SIZES ("100000,1000000"), BENCH_EXPORT_BACKENDS
("sqlite,postgresql"), BENCH_DATABASE_URL (PostgreSQL server; a database is created and dropped),
BENCH_EXPORT_REPEAT (runs of each measurement, interleaved, fastest counts; 1),
BENCH_EXPORT_PROFILE (1: run the export children under cProfile and print where time goes).
"""

from __future__ import annotations

import base64
import cProfile
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import psycopg
import sqlalchemy as sa

from bench.harness import DEFAULT_PG_URL, ROOT, bench_command
from exports.assemble import BATCH_ROWS, build, plan_categories
from exports.storage import LocalStorage
from exports.values import Style
from privacy_service import migrate
from privacy_service.config import DEMO_POLICIES
from privacy_service.crypto import KeyRing, Vault
from privacy_service.crypto.stream import SealedWriter
from privacy_service.datamap.collect import Collector
from privacy_service.db import Database, make_engine, new_id
from privacy_service.demo import seed
from privacy_service.policies import load_policies
from privacy_service.subjects.directory import find_by_contact

PG_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
SIZES = [
    int(s.replace("_", ""))
    for s in os.environ.get("BENCH_EXPORT_SIZES", "100000,1000000").split(",")
    if s.strip()
]
BACKENDS = [
    b.strip() for b in os.environ.get("BENCH_EXPORT_BACKENDS", "sqlite,postgresql").split(",")
]
REPEAT = max(1, int(os.environ.get("BENCH_EXPORT_REPEAT", "1")))
PROFILE = os.environ.get("BENCH_EXPORT_PROFILE", "0") not in ("", "0")
KEYS_ENV = "BENCH_EXPORT_KEYS"
DEMO_EMAIL = "demo@example.com"
RSS_GOAL_MB = 200
RATIO_GOAL = 2.0
RESULT = "RESULT "


# --- measuring, in a child ---------------------------------------------------------------------


def _peak_mb() -> float:
    """Peak RSS of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _emit(result: dict) -> None:
    print(RESULT + json.dumps(result), flush=True)


def _vault():
    kek, index, audit = (base64.b64decode(p) for p in os.environ[KEYS_ENV].split(":"))
    return Vault(KeyRing(keks={1: kek}, default_active=1, index_key=index, audit_key=audit))


def _driver_url(url: str) -> str:
    """The SQLAlchemy URL as the plain driver wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


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
    vault = _vault()
    if spec["backend"] == "postgresql":
        admin = sa.create_engine(spec["admin_url"], isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{spec["dbname"]}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{spec["dbname"]}"')
        except Exception as exc:
            cause = getattr(exc, "orig", None) or exc
            _emit({"skip": (str(cause).strip().splitlines() or [type(cause).__name__])[0]})
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
    _emit({"seed_s": seconds, "rows": summary.rows if summary else {}, "categories": categories})
    return 0


def export_main(spec: dict) -> int:
    """Our export, the way the worker writes it."""
    vault = _vault()
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
    baseline = _rss_mb()

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
    peak = _peak_mb()
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
    _emit(
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


class _Unseekable:
    """Only ``write`` and ``flush``: zipfile must stream (data descriptors), as to a socket."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, data) -> int:
        return self._fh.write(data)

    def flush(self) -> None:
        self._fh.flush()


def bare_main(spec: dict) -> int:
    """The limit: same rows, plain driver, json + csv + zipfile, nothing else."""
    categories = json.loads(Path(spec["queries"]).read_text())
    if spec["backend"] == "postgresql":
        conn = psycopg.connect(_driver_url(spec["shop_url"]))

        def rows(sql):
            with conn.cursor(name="bare") as cur:
                cur.itersize = 2000
                cur.execute(sql)
                yield from cur
            conn.commit()

    else:
        conn = sqlite3.connect(spec["shop_url"].removeprefix("sqlite:///"))

        def rows(sql):
            cur = conn.execute(sql)
            cur.arraysize = 2000
            yield from cur
            cur.close()

    baseline = _rss_mb()
    path = Path(spec["out_dir"]) / "bare.zip"
    t0, c0 = time.perf_counter(), time.process_time()
    records = 0
    with open(path, "wb") as raw:
        with zipfile.ZipFile(
            _Unseekable(raw), "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
        ) as zf:
            for category in categories:
                code = category["code"]
                with (
                    zf.open(f"{code}/{code}.json", "w", force_zip64=True) as member,
                    io.TextIOWrapper(member, encoding="utf-8") as out,
                ):
                    out.write(json.dumps({"category": code})[:-1] + ', "records": [\n')
                    sep = ""
                    for table in category["tables"]:
                        name, columns = table["table"], table["columns"]
                        for row in rows(table["sql"]):
                            record = {"record_type": name, **dict(zip(columns, row, strict=True))}
                            text = json.dumps(
                                record, ensure_ascii=False, separators=(",", ":"), default=str
                            )
                            out.write(sep + text)
                            sep = ",\n"
                            records += 1
                    out.write("\n]}\n")
                header = list(dict.fromkeys(c for t in category["tables"] for c in t["columns"]))
                index = {c: i for i, c in enumerate(header)}
                with (
                    zf.open(f"{code}/{code}.csv", "w", force_zip64=True) as member,
                    io.TextIOWrapper(member, encoding="utf-8-sig", newline="") as out,
                ):
                    writer = csv.writer(out)
                    writer.writerow(["record_type", *header])
                    for table in category["tables"]:
                        positions = [index[c] for c in table["columns"]]
                        for row in rows(table["sql"]):
                            line = [""] * len(header)
                            for i, value in zip(positions, row, strict=True):
                                line[i] = value
                            writer.writerow([table["table"], *line])
        raw.flush()
        os.fsync(raw.fileno())
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak_mb()
    size = path.stat().st_size
    path.unlink()
    conn.close()
    _emit(
        {
            "seconds": seconds,
            "cpu_s": cpu,
            "peak_mb": peak,
            "baseline_mb": baseline,
            "zip_bytes": size,
            "records": records,
        }
    )
    return 0


def drop_main(spec: dict) -> int:
    """Drop the benchmark's PostgreSQL database."""
    admin = sa.create_engine(spec["admin_url"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{spec["dbname"]}" WITH (FORCE)')
    admin.dispose()
    _emit({})
    return 0


CHILDREN = {
    "--setup": setup_main,
    "--export": export_main,
    "--bare": bare_main,
    "--drop": drop_main,
}


# --- the parent: stays small (stdlib only), so a child's ru_maxrss is the child's own ------------


class ChildFailed(RuntimeError):
    """A child process failed; the message has its last lines."""


def child(mode: str, spec: dict, env: dict, echo: bool = False) -> dict:
    proc = subprocess.run(
        bench_command("export", mode, json.dumps(spec)),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    lines = proc.stdout.splitlines()
    results = [json.loads(ln[len(RESULT) :]) for ln in lines if ln.startswith(RESULT)]
    if echo:
        for ln in lines:
            if not ln.startswith(RESULT):
                print("    " + ln)
    if proc.returncode != 0 or not results:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ChildFailed(f"{mode[2:]} child exited {proc.returncode}: {tail}")
    return results[-1]


def _best(runs: list[dict]) -> dict:
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_mb"] = max(r["peak_mb"] for r in runs)
    return best


def _yes(met: bool) -> str:
    return "yes" if met else "NO"


def run_case(backend: str, n: int, work: Path, env: dict, outcomes: list) -> None:
    case = work / f"{backend}-{n}"
    (case / "out").mkdir(parents=True)
    spec = {
        "backend": backend,
        "n": n,
        "service_url": f"sqlite:///{case / 'service.db'}",
        "out_dir": str(case / "out"),
    }
    if backend == "postgresql":
        base, _, _ = PG_URL.rpartition("/")
        spec["dbname"] = f"bench_export_{os.getpid()}_{n}"
        spec["admin_url"] = PG_URL
        spec["shop_url"] = f"{base}/{spec['dbname']}"
    else:
        spec["shop_url"] = f"sqlite:///{case / 'shop.db'}"
    label = f"{backend}, {n:,} browsing rows"
    try:
        setup = child("--setup", spec, env)
        if "skip" in setup:
            print(f"\n{backend}: skipped, cannot create a database at {PG_URL}: {setup['skip']}")
            return
        queries = case / "queries.json"
        queries.write_text(json.dumps(setup["categories"]))
        rows = sum(setup["rows"].values())
        print(f"\n{label}: seeded {rows:,} shop rows in {setup['seed_s']:.1f} s")
        bares, exports = [], []
        for _ in range(REPEAT):  # interleaved; the fastest run of each counts, the peak is the max
            bares.append(child("--bare", {**spec, "queries": str(queries)}, env))
            exports.append(child("--export", spec, env))
        bare, export = _best(bares), _best(exports)
        profile = None
        if PROFILE:
            profile = child("--export", {**spec, "profile": True}, env, echo=True)
    except (ChildFailed, subprocess.TimeoutExpired) as exc:
        print(f"\n{label}: FAILED: {exc}")
        outcomes.append(False)
        return
    finally:
        if backend == "postgresql":
            try:
                child("--drop", spec, env)
            except (ChildFailed, subprocess.TimeoutExpired) as exc:
                print(f"  (could not drop database {spec['dbname']}: {exc})")
    ratio = export["seconds"] / bare["seconds"]
    print("  export s | bare s | ratio | export peak MB | bare peak MB")
    print(
        f"  {export['seconds']:8.2f} | {bare['seconds']:6.2f} | {ratio:5.2f} | "
        f"{export['peak_mb']:14.0f} | {bare['peak_mb']:12.0f}"
    )
    print(
        f"  CPU s (less sensitive to other jobs): export {export['cpu_s']:.2f}, "
        f"bare {bare['cpu_s']:.2f}, ratio {export['cpu_s'] / bare['cpu_s']:.2f}"
    )
    print(
        f"  export: {export['records']:,} records, {export['members']} files, ZIP "
        f"{export['zip_bytes'] / 2**20:.1f} MiB (sealed {export['sealed_bytes'] / 2**20:.1f} MiB), "
        f"RSS after imports {export['baseline_mb']:.0f} MB"
    )
    print(
        f"  bare:   {bare['records']:,} records, ZIP {bare['zip_bytes'] / 2**20:.1f} MiB, "
        f"RSS after imports {bare['baseline_mb']:.0f} MB"
    )
    if profile:
        print(f"  (profiled run: {profile['seconds']:.2f} s under cProfile)")
    ratio_ok = ratio <= RATIO_GOAL
    rss_ok = export["peak_mb"] < RSS_GOAL_MB
    print(f"  goal wall time <= {RATIO_GOAL:g}x bare: {_yes(ratio_ok)} ({ratio:.2f}x)")
    print(f"  goal peak RSS < {RSS_GOAL_MB} MB:      {_yes(rss_ok)} ({export['peak_mb']:.0f} MB)")
    outcomes += [ratio_ok, rss_ok]


def main() -> int:
    print(
        "privacy-service export benchmark: one customer's export beside a bare JSON+CSV+ZIP script"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; sizes {', '.join(f'{n:,}' for n in SIZES)}"
    )
    print(
        f"note: best of {REPEAT} run(s) each on a small shared machine (database server, other "
        "jobs): wall times can swing 10-50% when other jobs run, see the CPU lines and the load "
        "average; peak RSS is ru_maxrss of each measuring child process (MB = MiB, imports "
        "included)."
    )
    print("load average at start: {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg()))
    started = time.perf_counter()
    keys = ":".join(base64.b64encode(os.urandom(32)).decode() for _ in range(3))
    env = {**os.environ, KEYS_ENV: keys, "PYTHONPATH": str(ROOT)}
    outcomes: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for backend in BACKENDS:
            if backend not in ("sqlite", "postgresql"):
                print(f"\n{backend}: unknown backend, skipped")
                continue
            for n in SIZES:
                run_case(backend, n, Path(tmp), env, outcomes)
    met = all(outcomes) and bool(outcomes)
    print(
        f"\nall goals met: {_yes(met)}; total {time.perf_counter() - started:.0f} s "
        "(seeding included); load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in CHILDREN:
        sys.exit(CHILDREN[sys.argv[1]](json.loads(sys.argv[2])))
    sys.exit(main())
