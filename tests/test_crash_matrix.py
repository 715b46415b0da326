"""The crash matrix: ``kill -9`` of the real CLI at random points of an export build, a deletion,
an account closure, a retention purge and a key rotation, repeatedly, on a real database.

After each scenario's last (unkilled) run: nothing is lost (the work is complete), nothing was
done twice (one completion, one build, one entry per erasure step), every record matches the
shop (rows recorded by purge runs and erasure steps = rows that left the shop; keys counted by
rotations = keys re-wrapped), nothing stays ``running``, and ``privacy audit verify`` passes.

``CRASH_KILLS`` kills per scenario and backend (2 in the suite: 20 kills on SQLite and
PostgreSQL; ``make soak`` raises it). ``CRASH_SEED`` replays a run's kill points.
"""

import base64
import datetime as dt
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import worker_env
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from privacy_service.audit import AuditEntry
from privacy_service.batches import WorkBatch
from privacy_service.crypto.keyring import parse_keks
from privacy_service.crypto.keystore import DataKey
from privacy_service.db import make_engine
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.keys.rotation import KeyRotation
from privacy_service.requests.models import DataRequest, ExportArchive
from retention.engine import preview
from retention.purge_records import PurgeRun

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("CRASH_KILLS", "2"))
SCALE = max(1, KILLS // 2)  # more kills need more work to land in
SEED = int(os.environ.get("CRASH_SEED", str(random.SystemRandom().randrange(10**6))))
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
be = shop.browsing_events


class Crasher:
    """Starts the real ``privacy`` CLI and kills it (SIGKILL) at random points, then lets it end."""

    def __init__(self, env: dict, rng: random.Random, database_url: str):
        self.env, self.rng = env, rng
        # Watching reads through its own engine with plain BEGIN: on SQLite, the app's
        # BEGIN IMMEDIATE would take the write lock from the process under test at every poll.
        self.watch_engine = make_engine(database_url, immediate=False)
        self.session = Session(self.watch_engine)
        self.kills: list[str] = []
        self.finished: list[str] = []

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "privacy_service.cli", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _poll(self, check) -> int:
        """One reading by the watching session (ended at once, so it holds nothing)."""
        try:
            return int(check(self.session) or 0)
        finally:
            self.session.rollback()  # end the read: never hold a snapshot or a lock

    def crash(self, name: str, args: list[str], progress, total: int | None, **kw) -> None:
        """Kill ``args`` ``KILLS`` times at random points of its work, then let it end.

        ``progress(session)`` counts units of work done so far (batches, keys) out of about
        ``total``: each kill lands a random number of units further, leaving work for the next
        kills; a quarter of them land early instead (start-up, planning, claiming). ``window``
        adds a random delay after the unit is seen. Without ``total`` (exports, which start over
        each time) the next unit is the moment to wait for.
        """
        kills, tries = 0, 0
        while kills < KILLS:
            tries += 1
            assert tries <= 3 * KILLS, f"{name}: the kills keep missing"
            done = self._poll(progress)
            left = 1 if total is None else total - done
            assert left > KILLS - kills or total is None, (
                f"{name}: too little left ({done}/{total})"
            )
            proc = self.start(*args)
            if self.rng.random() < 0.25:
                time.sleep(self.rng.uniform(0.2, 1.0))
                where = "early"
            else:
                target = done + self.rng.randint(1, max(1, left // (KILLS - kills + 1)))
                deadline = time.monotonic() + 60
                while (now := self._poll(progress)) < target and proc.poll() is None:
                    if time.monotonic() > deadline:
                        proc.kill()
                        pytest.fail(f"{name}: no progress: {proc.communicate()[1][-3000:]}")
                    time.sleep(0.01)
                time.sleep(self.rng.uniform(0, kw.get("window", 0)))
                where = f"{now}/{total}"
            if proc.poll() is not None:
                assert proc.returncode == 0, (name, proc.communicate()[1][-2000:])
                continue  # it finished before the kill: not a kill, try again
            proc.kill()
            proc.wait()
            kills += 1
            self.kills.append(f"{name}@{where}")
            time.sleep(kw.get("pause", 0))  # leases of the dead process run out

    def finish(self, *args: str) -> str:
        """Run to the end, unkilled; returns its output."""
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "privacy_service.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        self.finished.append(f"{' '.join(args[:2])} {time.monotonic() - started:.1f} s")
        return done.stdout


def _count(engine, table, where=None) -> int:
    query = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def _audits(session, action, request_id=None) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == action)
    if request_id:
        query = query.where(AuditEntry.request_id == request_id)
    return list(session.scalars(query.order_by(AuditEntry.seq)))


def _completions(session, rid) -> int:
    return sum(
        1
        for e in _audits(session, "request.status_changed", rid)
        if e.details.get("to") == "completed"
    )


OVERRIDES = {
    "export_lease_seconds": 1,
    "erasure_lease_seconds": 1,
    "export_max_attempts": 1000,  # each kill costs an attempt; the build must still finish
    "erasure_batch": 100,
}


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
def crash_env(app, tmp_path, keys_file) -> dict:
    """The environment of the killed ``privacy`` processes: same databases, keys and leases."""
    env = worker_env(app, tmp_path, **OVERRIDES)
    del env["PRIVACY_KEYS"]
    env["PRIVACY_KEYS_FILE"] = str(keys_file)
    return env


def test_kill_nine_at_random_points_loses_nothing_and_does_nothing_twice(
    app, crash_env, keys_file, verified, runner, session, backend
):
    env = crash_env
    rt = app.extensions["privacy"]
    shop_db = rt.sources["shop"]
    clock = time.monotonic()
    seed(session, shop_db, customers=4, browsing_per_customer=6_000 * SCALE, now=NOW)
    print(f"  seed: {time.monotonic() - clock:.1f} s")
    rng = random.Random(SEED)
    crasher = Crasher(env, rng, rt.settings.database_url)
    print(f"crash matrix on {backend}: CRASH_SEED={SEED} CRASH_KILLS={KILLS}")
    clock = time.monotonic()
    try:
        for name, scenario in (
            ("export", lambda: _export(crasher, rt, session, verified)),
            ("deletion", lambda: _deletion(crasher, rt, session, verified, runner, shop_db)),
            ("closure", lambda: _closure(crasher, rt, session, verified, shop_db)),
            ("purge", lambda: _purge(crasher, rt, session, shop_db)),
            ("rotation", lambda: _rotation(crasher, rt, session, keys_file)),
        ):
            scenario()
            print(f"  {name}: {time.monotonic() - clock:.1f} s")
            clock = time.monotonic()
        out = crasher.finish("audit", "verify")
        assert "audit chain intact" in out
    finally:
        print(f"kills ({len(crasher.kills)}): {', '.join(crasher.kills)}")
        print(f"last runs: {', '.join(crasher.finished)}")
        crasher.session.close()
        crasher.watch_engine.dispose()
    assert len(crasher.kills) == 5 * KILLS
    session.expire_all()
    assert not session.scalar(
        select(func.count()).select_from(WorkBatch).where(WorkBatch.status == "pending")
    ), "every batch settled"


def _export(crasher, rt, session, verified):
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
        "export",
        ["exports", "build"],
        lambda _watch: len(list(exports_dir.glob("*.partial"))),
        None,  # every attempt starts over: a fresh partial file, then a random moment
        window=0.5,
        pause=1.1,
    )
    crasher.finish("exports", "build")  # may build nothing: a kill can land after the commit
    session.expire_all()
    archive = session.get(ExportArchive, rid)
    assert archive.status == "ready" and session.get(DataRequest, rid).status == "completed"
    assert len(_audits(session, "export.built", rid)) == 1, "built once"
    assert _completions(session, rid) == 1, "completed once"
    browsing = _count(rt.sources["shop"], be, be.c.customer_id == 1)
    assert archive.records >= browsing > 0, "the whole export, browsing included"
    visible = [p.name for p in exports_dir.iterdir() if not p.name.endswith(".partial")]
    assert archive.storage_key in visible
    session.commit()


def _erasure_checks(session, rid, name):
    request = session.get(DataRequest, rid)
    assert request.status == "completed", name
    steps = request.erasure_plan["steps"]
    done = _audits(session, "erasure.step_done", rid)
    assert len(done) == len(steps), f"{name}: every step recorded once"
    assert _completions(session, rid) == 1, f"{name}: completed once"
    return request, steps, done


def _deletion(crasher, rt, session, verified, runner, shop_db):
    email = _email(shop_db, 2)
    rid, _ = verified(type="deletion", email=email, categories=["browsing", "lists"])
    from privacy_service.team.accounts import create

    create(session, email="li.na@shop.example", role="agent", password="correct horse battery")
    session.commit()
    approved = runner.invoke(args=["requests", "approve", rid, "--by", "li.na@shop.example"])
    assert approved.exit_code == 0, approved.output  # --by names a staff account
    mine = be.c.customer_id == 2
    before = _count(shop_db, be, mine)
    others = _count(shop_db, be, be.c.customer_id != 2)
    crasher.crash(
        "deletion",
        ["erasures", "run"],
        lambda watch: _batches(watch, rid),
        before // OVERRIDES["erasure_batch"],
        pause=1.1,
    )
    crasher.finish("erasures", "run")
    session.expire_all()
    request, _steps, done = _erasure_checks(session, rid, "deletion")
    assert _count(shop_db, be, mine) == 0 and _count(shop_db, be, be.c.customer_id != 2) == others
    browsing = [e for e in done if e.details["table"] == "browsing_events"]
    assert sum(e.details["rows_changed"] for e in browsing) == before, "recorded = removed"
    assert request.receipt["categories"]["browsing"]["deleted"] == before
    session.commit()


def _closure(crasher, rt, session, verified, shop_db):
    with shop_db.begin() as conn:  # nothing blocks the closure of customer 3
        conn.execute(
            update(shop.orders)
            .where(shop.orders.c.customer_id == 3, shop.orders.c.status.in_(["unpaid", "paid"]))
            .values(status="shipped", shipped_at=NOW)
        )
        conn.execute(
            update(shop.gift_cards)
            .where(shop.gift_cards.c.customer_id == 3)
            .values(balance_cents=0)
        )
    rid, _ = verified(type="account_closure", email=_email(shop_db, 3))
    session.expire_all()
    request = session.get(DataRequest, rid)
    assert request.status == "cooling_off"
    subject_id = request.subject_id
    request.cooling_off_until = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    session.commit()
    mine = be.c.customer_id == 3
    before = _count(shop_db, be, mine)
    crasher.crash(
        "closure",
        ["erasures", "run"],
        lambda watch: _batches(watch, rid),
        before // OVERRIDES["erasure_batch"],
        pause=1.1,
    )
    crasher.finish("erasures", "run")
    session.expire_all()
    request, _steps, done = _erasure_checks(session, rid, "closure")
    assert _count(shop_db, be, mine) == 0
    browsing = [e for e in done if e.details["table"] == "browsing_events"]
    assert sum(e.details["rows_changed"] for e in browsing) == before, "recorded = removed"
    with shop_db.connect() as conn:
        status = conn.execute(select(shop.customers.c.status).where(shop.customers.c.id == 3))
        assert status.scalar() == "closed"
    shredded = [
        e
        for e in _audits(session, "subject.crypto_shredded")
        if e.subject_id == subject_id and e.details.get("reason") == "account_closed"
    ]
    assert len(shredded) == 1, "shredded once"
    assert session.get(DataKey, subject_id).wrapped is None
    session.commit()


def _purge(crasher, rt, session, shop_db):
    collector = rt.collector()
    due = preview(collector, rt.policies, session)
    session.commit()
    browsing_before = _count(shop_db, be)
    assert due["browsing_history"]["browsing_events"] > 5_000

    def batches(watch):
        return watch.scalar(
            select(func.count()).select_from(WorkBatch).where(WorkBatch.owner_kind == "purge")
        )

    units = sum(n for tables in due.values() for n in tables.values()) // 200
    crasher.crash("purge", ["retention", "run", "--batch", "200"], batches, units)
    crasher.finish("retention", "run", "--batch", "200")
    session.expire_all()
    left = preview(collector, rt.policies, session)
    records = list(session.scalars(select(PurgeRun)))
    assert {r.status for r in records} <= {"done", "interrupted"}, "nothing left running"
    recorded: dict = {}
    for record in records:
        for rule, tables in record.counts.items():
            for table, n in tables.items():
                recorded[(rule, table)] = recorded.get((rule, table), 0) + n
    audited: dict = {}
    for entry in _audits(session, "retention.purged"):
        for table, n in entry.details["rows"].items():
            key = (entry.details["rule"], table)
            audited[key] = audited.get(key, 0) + n
    for entry in _audits(session, "retention.interrupted"):
        for rule, tables in entry.details["rows"].items():
            for table, n in tables.items():
                audited[(rule, table)] = audited.get((rule, table), 0) + n
    for rule, tables in due.items():
        for table, n in tables.items():
            gone = n - left[rule][table]
            assert recorded.get((rule, table), 0) == gone, (rule, table, "records")
            assert audited.get((rule, table), 0) == gone, (rule, table, "audit")
    removed = browsing_before - _count(shop_db, be)
    assert recorded[("browsing_history", "browsing_events")] == removed
    interrupted = [r for r in records if r.status == "interrupted"]
    assert len(interrupted) == len(_audits(session, "retention.interrupted"))
    session.commit()


def _rotation(crasher, rt, session, keys_file):
    from privacy_service.db import new_id

    # Data keys of requests from people who are not customers: enough for 200 batches.
    owners = [new_id() for _ in range(2000 * SCALE)]
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
            for owner in owners
        ],
    )
    session.commit()
    total = session.scalar(
        select(func.count()).select_from(DataKey).where(DataKey.wrapped.is_not(None))
    )
    session.commit()
    assert total > 1000

    def rewrapped(watch):
        return watch.scalar(select(func.coalesce(func.sum(KeyRotation.rewrapped), 0)))

    crasher.crash("rotation", ["keys", "rotate", "--batch", "10"], rewrapped, total)
    out = crasher.finish("keys", "rotate", "--batch", "10")
    assert "0 left on other versions" in out
    assert set(parse_keks(keys_file.read_text())) == {1, 2}, "one new version, never two"
    session.expire_all()
    rotations = list(session.scalars(select(KeyRotation)))
    assert {r.target_version for r in rotations} == {2}
    assert {r.status for r in rotations} <= {"done", "interrupted", "failed"}
    assert sum(r.rewrapped for r in rotations) == total, "keys counted = keys re-wrapped"
    audited = sum(e.details["rewrapped"] for e in _audits(session, "keys.rewrapped")) + sum(
        e.details["rewrapped"] for e in _audits(session, "keys.rotation_interrupted")
    )
    assert audited == total
    assert not session.scalar(
        select(func.count())
        .select_from(DataKey)
        .where(DataKey.wrapped.is_not(None), DataKey.kek_version != 2)
    )
    session.commit()


def _batches(session, rid) -> int:
    return session.scalar(
        select(func.count()).select_from(WorkBatch).where(WorkBatch.owner_id == rid)
    )


def _email(shop_db, customer_id) -> str:
    with shop_db.connect() as conn:
        return conn.execute(
            select(shop.customers.c.email).where(shop.customers.c.id == customer_id)
        ).scalar()
