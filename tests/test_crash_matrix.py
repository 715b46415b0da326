"""The crash matrix: ``kill -9`` of the real CLI at random points of an export build, a deletion,
an account closure, a retention purge and a key rotation, repeatedly, on a real database.

Each scenario is a test of its own, on a database of its own seeded with what it needs (xdist
runs them side by side). After its last (unkilled) run: nothing is lost (the work is complete),
nothing was done twice (one completion, one build, one entry per erasure step), every record
matches the shop (rows recorded by purge runs and erasure steps = rows that left the shop; keys
counted by rotations = keys re-wrapped), nothing stays ``running`` or pending, the scenario got
its ``CRASH_KILLS`` kills, and the audit chain verifies (``privacy audit verify``'s check, run
here; the command itself is tested in test_audit.py).

``CRASH_KILLS`` kills per scenario and backend (2 in the suite: 20 kills on SQLite and
PostgreSQL; ``make soak`` raises it). ``CRASH_SEED`` replays a run's kill points (crashfix.py).
"""

import base64
import datetime as dt
import os
from pathlib import Path

import pytest
from conftest import approver, worker_env
from crashfix import KILLS, NOW, SCALE, Crasher, audits, batches, be, completions, email_of
from dbfix import count_rows as count
from sqlalchemy import func, insert, select, update

from privacy_service import audit
from privacy_service.batches import WorkBatch
from privacy_service.crypto.keyring import parse_keks
from privacy_service.crypto.keystore import DataKey
from privacy_service.db import new_id
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.keys.rotation import KeyRotation
from privacy_service.requests.models import DataRequest, ExportArchive
from retention.engine import preview
from retention.purge_records import PurgeRun

pytestmark = pytest.mark.slow

OVERRIDES = {
    "export_lease_seconds": 1,
    "erasure_lease_seconds": 1,
    "export_max_attempts": 1000,  # each kill costs an attempt; the build must still finish
    "erasure_batch": 100,
}
LEASE_PAUSE = 1.1  # after a kill: the dead process's 1 s leases run out


@pytest.fixture
def keys_file(tmp_path) -> Path:
    """The key ring in a file: a rotation adds its new version there."""
    path = tmp_path / "keys"
    path.write_text(f"1:{base64.b64encode(os.urandom(32)).decode()}")
    return path


@pytest.fixture
def app(make_app, keys_file):
    """The suite's ``app`` fixture, keyed from the file, with short leases."""
    return make_app(keys=keys_file.read_text(), keys_file=str(keys_file), **OVERRIDES)


@pytest.fixture
def crasher(request, app, tmp_path, keys_file):
    """The scenario's killer (named after the test), on the app's databases, keys and leases.

    Its kills and the seed to replay them are printed (``-s``, or with a failure).
    """
    env = worker_env(app, tmp_path, **OVERRIDES)
    del env["PRIVACY_KEYS"]
    env["PRIVACY_KEYS_FILE"] = str(keys_file)
    name = request.node.originalname.removeprefix("test_").split("_")[0]
    found = Crasher(name, env, app.extensions["privacy"].settings.database_url, tmp_path)
    yield found
    found.close()
    print(found.report())


def _check_end(crasher: Crasher, session) -> None:
    """What every scenario ends with: its kills, nothing pending, the audit chain intact."""
    assert len(crasher.kills) == KILLS, crasher.report()
    session.expire_all()
    pending = select(func.count()).select_from(WorkBatch).where(WorkBatch.status == "pending")
    assert not session.scalar(pending), "every batch settled"
    verified = audit.verify_chain(session)
    assert verified.ok and verified.entries, verified.problems
    session.commit()


def _seed(app, session, customers: int) -> None:
    """The demo shop with ``customers`` customers and their browsing histories."""
    shop_db = app.extensions["privacy"].sources["shop"]
    seed(session, shop_db, customers=customers, browsing_per_customer=6_000 * SCALE, now=NOW)


def test_export_killed_at_random_points_builds_once(app, crasher, session, verified):
    rt = app.extensions["privacy"]
    _seed(app, session, 1)
    shop_db = rt.sources["shop"]
    with shop_db.begin() as conn:  # a history long enough to be killed in
        first = conn.execute(select(func.max(be.c.id))).scalar() + 1
        conn.execute(
            be.insert(),
            [
                {
                    "id": first + i,
                    "customer_id": 1,
                    "kind": "view",
                    "sku": "SKU-1",
                    "device_id": "dev-1",
                    "occurred_at": NOW - dt.timedelta(minutes=i),
                }
                for i in range(30_000)
            ],
        )
    rid, _ = verified(type="access", email="demo@example.com")
    exports_dir = Path(rt.settings.exports_dir)
    crasher.crash(
        ["exports", "build"],
        lambda _watch: len(list(exports_dir.glob("*.partial"))),
        None,  # every attempt starts over: a fresh partial file, then a random moment
        window=0.5,
        pause=LEASE_PAUSE,
    )
    crasher.finish("exports", "build")  # may build nothing: a kill can land after the commit
    session.expire_all()
    archive = session.get(ExportArchive, rid)
    assert archive.status == "ready" and session.get(DataRequest, rid).status == "completed"
    assert len(audits(session, "export.built", rid)) == 1, "built once"
    assert completions(session, rid) == 1, "completed once"
    browsing = count(shop_db, be, be.c.customer_id == 1)
    assert archive.records >= browsing > 0, "the whole export, browsing included"
    visible = [p.name for p in exports_dir.iterdir() if not p.name.endswith(".partial")]
    assert archive.storage_key in visible
    session.commit()
    _check_end(crasher, session)


def _erasure_checks(session, rid, name):
    request = session.get(DataRequest, rid)
    assert request.status == "completed", name
    steps = request.erasure_plan["steps"]
    done = audits(session, "erasure.step_done", rid)
    assert len(done) == len(steps), f"{name}: every step recorded once"
    assert completions(session, rid) == 1, f"{name}: completed once"
    return request, done


def _erase(crasher, shop_db, rid, customer_id) -> int:
    """Kill the erasure of ``rid`` at random batches, then let it end; rows it had to remove."""
    before = count(shop_db, be, be.c.customer_id == customer_id)
    crasher.crash(
        ["erasures", "run"],
        lambda watch: batches(watch, owner_id=rid),
        before // OVERRIDES["erasure_batch"],
        pause=LEASE_PAUSE,
    )
    crasher.finish("erasures", "run")
    return before


def test_deletion_killed_at_random_points_erases_once(app, crasher, session, verified, runner):
    shop_db = app.extensions["privacy"].sources["shop"]
    _seed(app, session, 2)
    rid, _ = verified(type="deletion", email=email_of(shop_db, 2), categories=["browsing", "lists"])
    by = approver(app)
    approved = runner.invoke(args=["requests", "approve", rid, "--by", by])
    assert approved.exit_code == 0, approved.output  # --by names a staff account
    others = count(shop_db, be, be.c.customer_id != 2)
    before = _erase(crasher, shop_db, rid, 2)
    session.expire_all()
    request, done = _erasure_checks(session, rid, "deletion")
    assert count(shop_db, be, be.c.customer_id == 2) == 0
    assert count(shop_db, be, be.c.customer_id != 2) == others
    browsing = [e for e in done if e.details["table"] == "browsing_events"]
    assert sum(e.details["rows_changed"] for e in browsing) == before, "recorded = removed"
    assert request.receipt["categories"]["browsing"]["deleted"] == before
    session.commit()
    _check_end(crasher, session)


def test_closure_killed_at_random_points_closes_and_shreds_once(app, crasher, session, verified):
    shop_db = app.extensions["privacy"].sources["shop"]
    _seed(app, session, 2)
    with shop_db.begin() as conn:  # nothing blocks the closure of customer 2
        conn.execute(
            update(shop.orders)
            .where(shop.orders.c.customer_id == 2, shop.orders.c.status.in_(["unpaid", "paid"]))
            .values(status="shipped", shipped_at=NOW)
        )
        conn.execute(
            update(shop.gift_cards)
            .where(shop.gift_cards.c.customer_id == 2)
            .values(balance_cents=0)
        )
    rid, _ = verified(type="account_closure", email=email_of(shop_db, 2))
    session.expire_all()
    request = session.get(DataRequest, rid)
    assert request.status == "cooling_off"
    subject_id = request.subject_id
    request.cooling_off_until = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    session.commit()
    before = _erase(crasher, shop_db, rid, 2)
    session.expire_all()
    request, done = _erasure_checks(session, rid, "closure")
    assert count(shop_db, be, be.c.customer_id == 2) == 0
    browsing = [e for e in done if e.details["table"] == "browsing_events"]
    assert sum(e.details["rows_changed"] for e in browsing) == before, "recorded = removed"
    with shop_db.connect() as conn:
        status = conn.execute(select(shop.customers.c.status).where(shop.customers.c.id == 2))
        assert status.scalar() == "closed"
    shredded = [
        e
        for e in audits(session, "subject.crypto_shredded")
        if e.subject_id == subject_id and e.details.get("reason") == "account_closed"
    ]
    assert len(shredded) == 1, "shredded once"
    assert session.get(DataKey, subject_id).wrapped is None
    session.commit()
    _check_end(crasher, session)


def _sum_counts(pairs) -> dict:
    """{(rule, table): rows} summed over ``(rule, {table: rows})`` pairs."""
    total: dict = {}
    for rule, tables in pairs:
        for table, n in tables.items():
            total[(rule, table)] = total.get((rule, table), 0) + n
    return total


def test_purge_killed_at_random_points_records_every_row_once(app, crasher, session):
    rt = app.extensions["privacy"]
    shop_db = rt.sources["shop"]
    _seed(app, session, 2)
    collector = rt.collector()
    due = preview(collector, rt.policies, session)
    session.commit()
    browsing_before = count(shop_db, be)
    assert due["browsing_history"]["browsing_events"] > 2_500 * SCALE

    def purge_batches(watch):
        return batches(watch, owner_kind="purge")

    units = sum(n for tables in due.values() for n in tables.values()) // 200
    crasher.crash(["retention", "run", "--batch", "200"], purge_batches, units)
    crasher.finish("retention", "run", "--batch", "200")
    session.expire_all()
    left = preview(collector, rt.policies, session)
    records = list(session.scalars(select(PurgeRun)))
    assert {r.status for r in records} <= {"done", "interrupted"}, "nothing left running"
    recorded = _sum_counts(pair for r in records for pair in r.counts.items())
    purged = audits(session, "retention.purged")
    stopped = audits(session, "retention.interrupted")
    audited = _sum_counts(
        [(e.details["rule"], e.details["rows"]) for e in purged]
        + [pair for e in stopped for pair in e.details["rows"].items()]
    )
    for rule, tables in due.items():
        for table, n in tables.items():
            gone = n - left[rule][table]
            assert recorded.get((rule, table), 0) == gone, (rule, table, "records")
            assert audited.get((rule, table), 0) == gone, (rule, table, "audit")
    removed = browsing_before - count(shop_db, be)
    assert recorded[("browsing_history", "browsing_events")] == removed
    interrupted = [r for r in records if r.status == "interrupted"]
    assert len(interrupted) == len(stopped)
    session.commit()
    _check_end(crasher, session)


def test_rotation_killed_at_random_points_rewraps_every_key_once(app, crasher, session, keys_file):
    rt = app.extensions["privacy"]
    # Data keys of requests from people who are not customers: enough for 200 batches.
    session.execute(
        insert(DataKey),
        [
            {
                "owner_id": owner,
                "owner_kind": "request",
                "wrapped": rt.vault.wrap(os.urandom(32), owner, 1),
                "kek_version": 1,
                "created_at": NOW,
            }
            for owner in (new_id() for _ in range(2000 * SCALE))
        ],
    )
    session.commit()
    wrapped = select(func.count()).select_from(DataKey).where(DataKey.wrapped.is_not(None))
    total = session.scalar(wrapped)
    session.commit()
    assert total >= 2000

    def rewrapped(watch):
        return watch.scalar(select(func.coalesce(func.sum(KeyRotation.rewrapped), 0)))

    crasher.crash(["keys", "rotate", "--batch", "10"], rewrapped, total)
    out = crasher.finish("keys", "rotate", "--batch", "10")
    assert "0 left on other versions" in out
    assert set(parse_keks(keys_file.read_text())) == {1, 2}, "one new version, never two"
    session.expire_all()
    rotations = list(session.scalars(select(KeyRotation)))
    assert {r.target_version for r in rotations} == {2}
    assert {r.status for r in rotations} <= {"done", "interrupted", "failed"}
    assert sum(r.rewrapped for r in rotations) == total, "keys counted = keys re-wrapped"
    audited = sum(e.details["rewrapped"] for e in audits(session, "keys.rewrapped")) + sum(
        e.details["rewrapped"] for e in audits(session, "keys.rotation_interrupted")
    )
    assert audited == total
    assert not session.scalar(wrapped.where(DataKey.kek_version != 2))
    session.commit()
    _check_end(crasher, session)
