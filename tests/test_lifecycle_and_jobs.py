"""The state machine, scheduled jobs under their lease, provisional deadlines, migrations."""

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update

from privacy_service import jobs, migrate
from privacy_service.calendar import WorkingCalendar, YearCalendar
from privacy_service.errors import Conflict
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest


def test_state_machine_shape():
    assert set(lifecycle.TRANSITIONS) == set(lifecycle.STATUSES)
    for status in lifecycle.TERMINAL:
        assert not lifecycle.TRANSITIONS[status]
    assert lifecycle.can_transition("pending_verification", "verified")
    assert not lifecycle.can_transition("completed", "in_progress")
    assert not lifecycle.can_transition("pending_verification", "completed")
    assert "in_progress" not in lifecycle.CUSTOMER_CANCELLABLE


def test_illegal_transition_is_a_409_and_changes_nothing(verified, session):
    rid, _ = verified()
    request = session.get(DataRequest, rid)
    with pytest.raises(Conflict) as exc:
        lifecycle.transition(session, request, lifecycle.PENDING_VERIFICATION, actor="test")
    assert exc.value.status == 409
    session.rollback()
    assert session.get(DataRequest, rid).status == "verified"


def test_concurrent_updates_of_one_request_do_not_both_win(verified, rt, app):
    rid, _ = verified()
    with app.app_context():
        first, second = rt.db.new_session(), rt.db.new_session()
        # Both read the request (their transactions end: SQLite serialises open ones)...
        a = first.get(DataRequest, rid)
        first.commit()
        b = second.get(DataRequest, rid)
        second.commit()
        # ...then both decide; the second decision rests on a stale version.
        lifecycle.transition(first, a, lifecycle.CANCELLED, actor="a")
        first.commit()
        from sqlalchemy.orm.exc import StaleDataError

        with pytest.raises(StaleDataError):
            lifecycle.transition(second, b, lifecycle.IN_PROGRESS, actor="b")
            second.commit()
        second.rollback()
        first.close(), second.close()


def test_unverified_requests_are_rejected_with_a_reason(client, rt, app, session):
    rid = client.post(
        "/api/v1/requests", json={"type": "access", "email": "late@example.com"}
    ).json["id"]
    session.execute(
        update(DataRequest).values(received_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    )
    session.commit()
    spec = next(s for s in jobs.JOBS if s.id == "requests.reject_unverified")
    assert jobs.run_job(rt, spec) == 1
    session.expire_all()
    request = session.get(DataRequest, rid)
    assert request.status == "rejected" and request.reasons[0]["code"] == "not_verified"
    assert "zh-CN" in request.reasons[0] and "en" in request.reasons[0]


def test_a_job_runs_once_when_two_processes_fire_together(rt, app):
    spec = next(s for s in jobs.JOBS if s.id == "idempotency.purge")
    results = []
    barrier = threading.Barrier(4)

    def fire(holder):
        session = rt.db.new_session()
        barrier.wait()
        results.append(jobs.acquire(session, spec.id, 60, holder=holder))
        session.close()

    threads = [threading.Thread(target=fire, args=(f"p{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    # A finished run keeps the lease for its quiet period: a late twin still skips.
    session = rt.db.new_session()
    holder = session.scalar(select(jobs.JobLease.holder).where(jobs.JobLease.job_id == spec.id))
    jobs.release(session, spec.id, quiet_seconds=60, holder=holder)
    assert not jobs.acquire(session, spec.id, 60, holder="late")
    jobs.release(session, spec.id, quiet_seconds=0, holder=holder)
    assert jobs.acquire(session, spec.id, 60, holder="next-day")
    session.close()


def test_provisional_deadlines_are_recomputed_when_the_year_becomes_known(client, rt, app, session):
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "x@example.com"}).json[
        "id"
    ]
    received = dt.datetime(2026, 12, 20, 2, 0, tzinfo=dt.UTC)
    guess = rt.policies.calendar.add_working_days(dt.date(2026, 12, 20), 15)
    assert guess.provisional
    session.execute(
        update(DataRequest).values(
            received_at=received, due_date=guess.due_date, due_date_provisional=True
        )
    )
    session.commit()
    # The operator adds the official 2027 year: Jan 1 off; Jan 2-3 weekend; a make-up working
    # Sunday on Jan 10 is invented here to show it is honoured.
    official = YearCalendar(
        2027, frozenset({dt.date(2027, 1, 1)}), frozenset({dt.date(2027, 1, 10)}), "test"
    )
    rt.policies = dataclasses.replace(rt.policies, calendar=WorkingCalendar([official]))
    spec = next(s for s in jobs.JOBS if s.id == "deadlines.recompute_provisional")
    assert jobs.run_job(rt, spec) == 1
    session.expire_all()
    request = session.get(DataRequest, rid)
    expected = WorkingCalendar([official]).add_working_days(dt.date(2026, 12, 20), 15)
    assert not expected.provisional
    assert (request.due_date, request.due_date_provisional) == (expected.due_date, False)
    assert request.due_date >= guess.due_date, (
        "the provisional guess was never later than the truth"
    )


def test_migrations_match_the_models(database_url, rt):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    import privacy_service.models  # noqa: F401
    from privacy_service.db import Base

    heads = ScriptDirectory.from_config(migrate.alembic_config(rt.db.url)).get_heads()
    assert len(heads) == 1, f"one line of migrations, not {heads}"
    assert migrate.current(rt.db.engine) == heads[0]
    ours = set(Base.metadata.tables)

    def only_ours(name, type_, _parent):
        # On PostgreSQL the demo shop's tables share the test database; they are not ours.
        return type_ != "table" or name in ours

    with rt.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": only_ours})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_demo_seed_is_idempotent(runner, session):
    from privacy_service.subjects.models import Subject

    args = ["demo", "seed", "--customers", "3", "--browsing-per-customer", "5"]
    assert "demo shop seeded: 3 customers" in runner.invoke(args=args).output
    assert "already has 3 customers or more" in runner.invoke(args=args).output
    assert session.scalar(select(func.count()).select_from(Subject)) == 3


def test_concurrent_retries_with_one_idempotency_key_create_one_request(app, rt, session):
    answers = []
    barrier = threading.Barrier(4)

    def post():
        client = app.test_client()
        barrier.wait()
        answers.append(
            client.post(
                "/api/v1/requests",
                json={"type": "access", "email": "r@example.com"},
                headers={"Idempotency-Key": "same-key"},
            )
        )

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} == {202}
    assert len({a.json["id"] for a in answers}) == 1
    assert session.scalar(select(func.count()).select_from(DataRequest)) == 1
