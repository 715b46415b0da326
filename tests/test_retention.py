"""The retention engine with a controllable clock: a simulated year against the demo shop,
dry runs, explanations, legal holds, crash-resume, and one purge at a time across schedulers."""

import datetime as dt

import pytest
from conftest import run_at_once
from sqlalchemy import func, select

from privacy_service import holds, jobs
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.subjects.directory import find_by_contact
from retention.engine import explain, preview, run
from retention.purge_records import PurgeRun

START = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
be = shop.browsing_events


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=60, now=START)
    return rt.sources["shop"]


def _browsing(engine):
    with engine.connect() as conn:
        return {
            r.id: (r.customer_id, r.occurred_at.replace(tzinfo=dt.UTC))
            for r in conn.execute(select(be.c.id, be.c.customer_id, be.c.occurred_at))
        }


@pytest.mark.slow  # 366 daily purge runs
def test_a_simulated_year_removes_exactly_what_the_rules_say(shop_db, rt, session):
    collector = rt.collector()
    held = find_by_contact(session, "email", "user2@example.net")
    holds.place(
        session,
        subject_id=held.id,
        category="browsing",
        reason="regulator inquiry",
        until=(START + dt.timedelta(days=400)).date(),
        actor="staff:li.na",
        categories=rt.policies.categories,
    )
    session.commit()
    initial = _browsing(shop_db)
    for day in range(0, 366, 1):
        now = START + dt.timedelta(days=day)
        run(collector, rt.policies, session, now=now)
        left = _browsing(shop_db)
        limit = now.replace(year=now.year - 1)
        for row_id, (customer, occurred) in initial.items():
            expected = customer == 2 or occurred >= limit
            assert (row_id in left) == expected, (day, row_id, customer, occurred)
    assert session.scalar(select(func.count()).select_from(PurgeRun)) == 366


def test_dry_run_counts_what_a_run_removes_and_changes_nothing(shop_db, rt, session):
    collector = rt.collector()
    now = START + dt.timedelta(days=30)
    before = _browsing(shop_db)
    planned = preview(collector, rt.policies, session, now)
    assert _browsing(shop_db) == before
    record = run(collector, rt.policies, session, now=now)
    assert record.counts == planned and record.status == "done"
    again = run(collector, rt.policies, session, now=now)
    assert all(n == 0 for tables in again.counts.values() for n in tables.values()), (
        "a second pass finds nothing: anonymised rows are not anonymised again"
    )


def test_orders_are_anonymised_three_years_after_completion(shop_db, rt, session):
    run(rt.collector(), rt.policies, session, now=START)
    limit = (START - dt.timedelta(days=3 * 365 + 1)).replace(tzinfo=None)
    with shop_db.connect() as conn:
        old = (
            conn.execute(
                select(shop.orders.c.shipping_address).where(shop.orders.c.completed_at < limit)
            )
            .scalars()
            .all()
        )
        recent = (
            conn.execute(
                select(shop.orders.c.shipping_address).where(
                    shop.orders.c.completed_at > limit + dt.timedelta(days=2)
                )
            )
            .scalars()
            .all()
        )
    assert old and all(a is None for a in old)
    assert recent and all(a for a in recent)


def test_explain_says_when_a_row_goes_and_why_a_held_row_stays(shop_db, rt, session):
    collector = rt.collector()
    row_id, (customer, occurred) = next(iter(_browsing(shop_db).items()))
    answer = explain(collector, rt.policies, session, "browsing_events", row_id, now=START)
    assert answer["rule"] == "browsing_history" and answer["action"] == "delete"
    assert answer["goes_on"] == occurred.replace(year=occurred.year + 1).date().isoformat()
    email = "demo@example.com" if customer == 1 else f"user{customer}@example.net"
    owner = find_by_contact(session, "email", email)
    holds.place(
        session,
        subject_id=owner.id,
        category=None,
        reason="court order",
        until=(START + dt.timedelta(days=10)).date(),
        actor="staff:li.na",
        categories=rt.policies.categories,
    )
    session.commit()
    held = explain(collector, rt.policies, session, "browsing_events", row_id, now=START)
    assert held["held"] is True and held["goes_on"] is None and held["due"] is False
    assert "court order" not in str(held)


def test_a_purge_killed_mid_run_removes_the_rest_once(shop_db, rt, session):
    collector = rt.collector()
    now = START + dt.timedelta(days=200)
    expected = preview(collector, rt.policies, session, now)["browsing_history"]["browsing_events"]
    before = len(_browsing(shop_db))
    calls = {"n": 0}

    def crash(rule, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        run(collector, rt.policies, session, now=now, batch=5, progress=crash)
    session.rollback()
    assert before - len(_browsing(shop_db)) == 10, "two batches went before the crash"
    record = run(collector, rt.policies, session, now=now, batch=5)
    assert record.counts["browsing_history"]["browsing_events"] == expected - 10
    assert before - len(_browsing(shop_db)) == expected


def test_two_schedulers_never_run_the_purge_at_the_same_time(shop_db, rt, app):
    spec = next(s for s in jobs.JOBS if s.id == "retention.nightly")
    results = run_at_once(rt, spec)
    assert results.count(None) == 1, results
    with app.app_context():
        assert rt.db.session.scalar(select(func.count()).select_from(PurgeRun)) == 1


def test_deadline_reminders_reach_the_privacy_team(make_app, smtp, verified, session):
    app = make_app(privacy_team_email="privacy-team@shop.example")
    rt = app.extensions["privacy"]
    from sqlalchemy import update

    from privacy_service.requests.models import DataRequest

    client = app.test_client()
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "x@example.com"}).json[
        "id"
    ]
    late = client.post("/api/v1/requests", json={"type": "access", "email": "y@example.com"}).json[
        "id"
    ]
    today = dt.datetime.now(dt.UTC).date()
    session.execute(
        update(DataRequest).values(status="verified", due_date=today + dt.timedelta(days=1))
    )
    session.execute(
        update(DataRequest)
        .where(DataRequest.id == late)
        .values(due_date=today - dt.timedelta(days=10))
    )
    session.commit()
    spec = next(s for s in jobs.JOBS if s.id == "deadlines.remind")
    assert jobs.run_job(rt, spec) == 2
    rt.notifier.wait()
    message = smtp.wait_for(1)[-1]
    assert message["To"] == "privacy-team@shop.example"
    body = message.get_payload(decode=True).decode()
    assert "Overdue: 1" in body and late in body and rid in body
    assert "x@example.com" not in body


def test_periods_land_on_month_ends_and_leap_days():
    from privacy_service.policies.retention import Period
    from retention.periods import cutoff, cutoff_inverse

    leap = dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)
    assert cutoff(leap, Period(years=3)) == dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC)
    assert cutoff_inverse(leap, Period(years=1)) == dt.datetime(2029, 2, 28, 12, tzinfo=dt.UTC)
    assert cutoff(dt.datetime(2026, 3, 31, tzinfo=dt.UTC), Period(months=1)).day == 28
