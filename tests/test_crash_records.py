"""Records that survive a crash: a purge, an erasure or a key rotation killed between a source's
commit and its own record still says what it did, is closed as interrupted (audited), and the
next run carries on without doing anything twice."""

import base64
import datetime as dt
import os

import pytest
from dbfix import count_rows
from sqlalchemy import select, update

from privacy_service import audit, batches, runs
from privacy_service.audit import AuditEntry
from privacy_service.crypto.keyring import parse_keks
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.keys import rotation
from privacy_service.requests.models import DataRequest
from retention import engine
from retention.processor import run_pending
from retention.purge_records import PurgeRun

START = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
be = shop.browsing_events
DEAD = f"{runs.HOST}:999999999:gone"  # a process of this host that no longer exists


def _rows(engine_, table=be, where=None):
    return count_rows(engine_, table, where)


def _audits(session, action):
    return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def _die_after_source_commit(monkeypatch, module, on_call: int):
    """The process "dies" right after the source committed batch ``on_call``, before its record."""
    calls = {"n": 0}
    real = batches.settle

    def settle(batch, rows):
        calls["n"] += 1
        if calls["n"] == on_call:
            raise KeyboardInterrupt("killed")
        real(batch, rows)

    monkeypatch.setattr(module.batches, "settle", settle)
    return lambda: monkeypatch.setattr(module.batches, "settle", real)


def test_a_purge_killed_before_its_record_is_closed_as_interrupted_with_every_row(
    app, rt, session, monkeypatch
):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=60, now=START)
    shop_db = rt.sources["shop"]
    collector, now = rt.collector(), START + dt.timedelta(days=200)
    expected = engine.preview(collector, rt.policies, session, now)["browsing_history"]
    expected = expected["browsing_events"]
    before = _rows(shop_db)
    restore = _die_after_source_commit(monkeypatch, engine, on_call=3)
    with pytest.raises(KeyboardInterrupt):
        engine.run(collector, rt.policies, session, now=now, batch=5)
    session.rollback()
    restore()
    assert before - _rows(shop_db) == 15, "three batches left the shop"
    dead = session.scalars(select(PurgeRun)).one()
    assert dead.status == "running"
    assert dead.counts["browsing_history"]["browsing_events"] == 10, "two were recorded"

    second = engine.run(collector, rt.policies, session, now=now, batch=5)
    session.expire_all()
    dead = session.get(PurgeRun, dead.id)
    assert dead.status == "interrupted" and dead.finished_at is not None
    assert dead.counts["browsing_history"]["browsing_events"] == 15, "the unrecorded batch too"
    (entry,) = _audits(session, "retention.interrupted")
    assert entry.details["run"] == dead.id and entry.details["recovered_rows"] == 5
    assert entry.details["rows"]["browsing_history"]["browsing_events"] == 15
    assert second.counts["browsing_history"]["browsing_events"] == expected - 15
    assert before - _rows(shop_db) == expected, "every expired row gone, once"
    recorded = sum(
        r.counts.get("browsing_history", {}).get("browsing_events", 0)
        for r in session.scalars(select(PurgeRun))
    )
    assert recorded == before - _rows(shop_db)
    assert audit.verify_chain(session).ok
    assert not batches.pending(session, "purge", dead.id)


def _running(holder, heartbeat_at=None, counts=None) -> PurgeRun:
    """A purge run still marked running, held by ``holder``; its heartbeat now unless given."""
    return PurgeRun(
        started_at=NOW,
        as_of=NOW,
        dry_run=False,
        status="running",
        counts=counts or {},
        errors=[],
        holder=holder,
        heartbeat_at=heartbeat_at or dt.datetime.now(dt.UTC),
    )


def test_a_run_of_a_live_process_is_left_alone_and_a_dead_one_closed(app, rt, session):
    collector = rt.collector()
    alive = _running(f"{runs.HOST}:1:other")  # pid 1 exists: another live process on this host
    gone = _running(DEAD)
    silent = _running(
        "another-host:42:x",
        heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=runs.STALE_SECONDS + 1),
    )
    session.add_all([alive, gone, silent])
    session.commit()
    closed = engine.recover_abandoned(collector, session)
    assert {r.id for r in closed} == {gone.id, silent.id}
    session.expire_all()
    assert session.get(PurgeRun, alive.id).status == "running"
    assert len(_audits(session, "retention.interrupted")) == 2


def test_an_erasure_killed_before_its_record_resumes_and_counts_every_row(
    app, rt, session, verified, runner, monkeypatch
):
    from retention import erasure

    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=40, now=NOW)
    shop_db = rt.sources["shop"]
    rid, _ = verified(type="deletion", categories=["browsing"])
    from privacy_service.team.accounts import create

    create(session, email="li.na@shop.example", role="agent", password="correct horse battery")
    session.commit()
    approved = runner.invoke(args=["requests", "approve", rid, "--by", "li.na@shop.example"])
    assert approved.exit_code == 0, approved.output  # --by names a staff account
    mine = be.c.customer_id == 1
    assert _rows(shop_db, be, mine) == 40
    deps = rt.erasure_deps()
    deps.batch = 7
    restore = _die_after_source_commit(monkeypatch, erasure, on_call=2)
    with pytest.raises(KeyboardInterrupt):
        run_pending(deps)
    restore()
    assert _rows(shop_db, be, mine) == 26, "two batches left the shop, one recorded"
    session.execute(
        update(DataRequest).values(claim_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.commit()
    assert run_pending(deps) == 1
    assert _rows(shop_db, be, mine) == 0
    (resumed,) = _audits(session, "erasure.resumed")
    assert resumed.request_id == rid and resumed.details["recovered_rows"] == 7
    steps = session.get(DataRequest, rid).erasure_plan["steps"]
    done = _audits(session, "erasure.step_done")
    assert len(done) == len(steps), "each step recorded once"
    browsing = [e for e in done if e.details["table"] == "browsing_events"]
    assert [e.details["rows_changed"] for e in browsing] == [40]
    assert _rows(shop_db, be, be.c.customer_id == 2) == 40, "nobody else's rows"
    assert audit.verify_chain(session).ok


@pytest.fixture
def file_keyed(make_app, tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"1:{base64.b64encode(os.urandom(32)).decode()}")
    return make_app(keys=path.read_text(), keys_file=str(path)), path


def test_a_rotation_killed_mid_rewrap_resumes_the_same_version(file_keyed, runner_for):
    from privacy_service.subjects.directory import register

    app, path = file_keyed
    rt = app.extensions["privacy"]
    with app.app_context():
        session = rt.db.session
        for i in range(23):
            register(session, email=f"k{i}@example.com")
        session.commit()
        run = rotation.begin(session, rt.vault, rt.settings, None)
        assert run.target_version == 2 and set(parse_keks(path.read_text())) == {1, 2}
        partial = rotation.rewrap(
            rt.db.new_session, rt.vault, 2, batch=5, max_batches=2, rotation_id=run.id
        )
        assert partial.rewrapped == 10
        # The process dies: its record stays "running" under a holder that is gone.
        session.execute(
            update(rotation.KeyRotation)
            .where(rotation.KeyRotation.id == run.id)
            .values(holder=DEAD)
        )
        session.commit()
        runs.ended(run.id)

        result = runner_for(app).invoke(args=["keys", "rotate", "--batch", "4"])
        assert result.exit_code == 0, result.output
        assert "resuming the interrupted rotation to key version 2" in result.output
        assert "re-wrapped 13; 0 left" in result.output
        assert set(parse_keks(path.read_text())) == {1, 2}, "no version 3 minted"
        session.expire_all()
        first, second = session.scalars(
            select(rotation.KeyRotation).order_by(rotation.KeyRotation.started_at)
        ).all()
        assert (first.status, first.rewrapped) == ("interrupted", 10)
        assert (second.status, second.rewrapped, second.resumes) == ("done", 13, first.id)
        (stopped,) = _audits(session, "keys.rotation_interrupted")
        assert stopped.details == {
            "rotation": first.id,
            "version": 2,
            "rewrapped": 10,
            "batches": 2,
        }
        (finished,) = _audits(session, "keys.rewrapped")
        assert finished.details["rewrapped"] + stopped.details["rewrapped"] == 23
        # A later rotation, with nothing interrupted, mints the next version.
        again = runner_for(app).invoke(args=["keys", "rotate"])
        assert again.exit_code == 0 and "added key version 3" in again.output
        assert audit.verify_chain(session).ok


def test_a_rotation_killed_before_activation_activates_the_key_it_minted(
    file_keyed, runner_for, monkeypatch
):
    app, path = file_keyed
    rt = app.extensions["privacy"]
    with app.app_context():
        session = rt.db.session

        def killed(*_a, **_k):
            raise KeyboardInterrupt("killed")

        monkeypatch.setattr(rt.vault, "activate", killed)
        with pytest.raises(KeyboardInterrupt):
            rotation.begin(session, rt.vault, rt.settings, None)
        monkeypatch.undo()
        assert set(parse_keks(path.read_text())) == {1, 2}
        result = runner_for(app).invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "resuming the interrupted rotation to key version 2" in result.output
        assert set(parse_keks(path.read_text())) == {1, 2}
        assert rt.vault.active_version(session) == 2


def test_privacy_jobs_recover_closes_a_dead_run_at_once(app, rt, session, runner):
    dead = _running(DEAD, counts={"browsing_history": {"browsing_events": 5000}})
    session.add(dead)
    session.commit()
    result = runner.invoke(args=["jobs", "recover"])
    assert result.exit_code == 0, result.output
    assert "purge_runs: 1 interrupted" in result.output
    session.expire_all()
    assert session.get(PurgeRun, dead.id).status == "interrupted"
    (entry,) = _audits(session, "retention.interrupted")
    assert entry.details["rows"] == {"browsing_history": {"browsing_events": 5000}}
    again = runner.invoke(args=["jobs", "recover"])
    assert "purge_runs: 0 interrupted" in again.output, "closed once"


def test_a_batch_a_failing_run_could_not_count_is_counted_and_audited_later(
    app, rt, session, monkeypatch
):
    from retention import purge_records

    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=30, now=START)
    shop_db = rt.sources["shop"]
    collector, now = rt.collector(), START + dt.timedelta(days=200)
    before = _rows(shop_db)
    real_settle, real_recover = batches.settle, batches.recover
    calls = {"n": 0}

    def settle(batch, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("service database hiccup")
        real_settle(batch, rows)

    def source_down(*_a, **_k):
        raise ConnectionError("source unreachable")

    monkeypatch.setattr(engine.batches, "settle", settle)
    monkeypatch.setattr(purge_records.batches, "recover", source_down)
    record = engine.run(collector, rt.policies, session, now=now, batch=5)
    assert record.status == "failed" and record.errors[0]["rule"] == "browsing_history"
    assert record.counts["browsing_history"]["browsing_events"] == 5, "one batch counted"
    assert before - _rows(shop_db) == 10, "two left the shop"
    monkeypatch.setattr(engine.batches, "settle", real_settle)
    monkeypatch.setattr(purge_records.batches, "recover", real_recover)
    engine.recover_abandoned(collector, session)
    session.expire_all()
    assert session.get(PurgeRun, record.id).counts["browsing_history"]["browsing_events"] == 10
    (entry,) = _audits(session, "retention.recovered")
    assert entry.details["recovered_rows"] == 5 and entry.details["run"] == record.id
    assert entry.details["rows"]["browsing_history"]["browsing_events"] == 5
    assert not batches.pending(session, "purge", record.id)


def test_a_shop_in_the_service_database_is_purged_and_erased_batch_by_batch(
    make_app, database_url, verified, runner
):
    # One database for both (as the PostgreSQL tests always have): the batch's record is
    # committed before the shop's transaction opens, so neither waits on the other.
    app = make_app(shop_database_url=database_url)
    rt = app.extensions["privacy"]
    with app.app_context():
        session = rt.db.session
        seed(session, rt.sources["shop"], customers=2, browsing_per_customer=40, now=START)
        shop_db = rt.sources["shop"]
        before = _rows(shop_db)
        now = START + dt.timedelta(days=200)
        record = engine.run(rt.collector(), rt.policies, session, now=now, batch=7)
        assert record.status == "done", record.errors
        assert record.counts["browsing_history"]["browsing_events"] == before - _rows(shop_db)
        assert before - _rows(shop_db) > 7
