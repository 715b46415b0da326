"""Connecting an operator's own shop: a source that is down or does not answer.

The lookup fails in the source's connect timeout, visibly (the request, its steps, the staff
page), and is retried until the shop is back: never a silent "not a customer", never a code
sent before the customer is found.
"""

from __future__ import annotations

import time

from connectfix import rt_of
from shopfix import fill, write_policies
from sqlalchemy import update

from privacy_service.datamap import steps
from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest
from privacy_service.requests.resolve import run_due


def test_a_source_that_is_down_is_retried_and_visible(make_app, tmp_path, monkeypatch, smtp):
    """The shop's database cannot be reached: no code, a visible retrying lookup; then it is."""
    from sqlalchemy import create_engine

    missing = tmp_path / "not-yet" / "shop.db"
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{missing}")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    client = app.test_client()
    rt = rt_of(app)
    started = time.perf_counter()
    answer = client.post("/api/v1/requests", json={"type": "access", "email": "wang@example.org"})
    assert answer.status_code == 202 and time.perf_counter() - started < 2
    rid = answer.json["id"]
    rt.notifier.wait(retrying=False)  # the source is down on purpose
    with app.app_context():
        session = rt.db.session
        request = session.get(DataRequest, rid)
        assert request.identity_status == "retrying"
        assert request.identity_errors == {"crm": "OperationalError"}
        assert request.identity_attempts == 1 and request.identity_next_at > utcnow()
        assert [(s.source, s.action, s.status) for s in steps.for_request(session, rid)] == [
            ("crm", "lookup", "failed")
        ]
        session.commit()
    assert smtp.messages == []
    assert run_due(rt) == 0, "not retried before its backoff"

    missing.parent.mkdir()
    engine = create_engine(f"sqlite:///{missing}")
    fill(engine)
    engine.dispose()
    with app.app_context():
        rt.db.session.execute(
            update(DataRequest).where(DataRequest.id == rid).values(identity_next_at=utcnow())
        )
        rt.db.session.commit()
    assert run_due(rt) == 1, "the scheduled retry finds the customer once the shop is back"
    rt.notifier.wait()
    smtp.wait_for(1)
    with app.app_context():
        request = rt.db.session.get(DataRequest, rid)
        assert request.identity_status == "matched" and request.accounts == [
            {"source": "crm", "key": "M-003"}
        ]


def test_the_notifier_waits_for_a_retrying_lookup_until_its_code_is_sent(
    make_app, tmp_path, monkeypatch, smtp
):
    """A lookup whose source failed once (as under load) is waited for until its queued retry
    sends the code: a test reads the code right after ``wait()``, with no polling of its own."""
    from sqlalchemy import create_engine

    from privacy_service.requests import resolve

    monkeypatch.setattr(resolve, "RETRY_BASE_SECONDS", 1)  # the queue retries after 1 s
    missing = tmp_path / "not-yet" / "shop.db"
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{missing}")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    rt = rt_of(app)
    rid = (
        app.test_client()
        .post("/api/v1/requests", json={"type": "access", "email": "wang@example.org"})
        .json["id"]
    )
    rt.notifier.wait(retrying=False)
    with app.app_context():
        assert rt.db.session.get(DataRequest, rid).identity_status == "retrying"
        rt.db.session.commit()
    missing.parent.mkdir()
    engine = create_engine(f"sqlite:///{missing}")
    fill(engine)
    engine.dispose()
    rt.notifier.wait()
    assert smtp.codes(rid), "the code was sent before wait() returned"
    with app.app_context():
        assert rt.db.session.get(DataRequest, rid).identity_status == "matched"
        rt.db.session.commit()


def test_staff_page_shows_the_failing_source(make_app, tmp_path, monkeypatch):
    from staffpages import sign_in_admin

    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{tmp_path / 'absent' / 'x.db'}")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    client = app.test_client()
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "a@example.org"}).json[
        "id"
    ]
    rt_of(app).notifier.wait(retrying=False)
    sign_in_admin(app, client)
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "crm" in page and "OperationalError" in page and "retrying" in page


def test_a_source_that_does_not_answer_times_out_and_is_retried(make_app, tmp_path, monkeypatch):
    """A PostgreSQL server that accepts the connection and never speaks (a hung database, a
    proxy with nothing behind it): the lookup fails in the source's connect timeout, recorded
    for a retry, instead of hanging (libpq has no timeout of its own). PyMySQL bounds the TCP
    connect by itself (10 s) but not the server's greeting, which this does not change."""
    import socket

    from privacy_service.datamap import sources
    from privacy_service.requests.resolve import look_up

    monkeypatch.setattr(sources, "CONNECT_TIMEOUT_SECONDS", 2)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nothing ever answers
    try:
        port = silent.getsockname()[1]
        monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"postgresql+psycopg://u@127.0.0.1:{port}/x")
        app = make_app(policies_dir=write_policies(tmp_path / "operator"))
        rt = rt_of(app)
        with app.app_context():
            found = look_up(
                rt.db.session, rt.collector(), rt.policies.datamap, "email", "li.na@example.com"
            )
        assert found.failures == {"crm": "OperationalError"}
        assert found.accounts == []
    finally:
        silent.close()
