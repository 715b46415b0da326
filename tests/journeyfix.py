"""A customer's request from submission to verification (a pytest plugin), and API helpers.

Factories for a registered customer, a submitted request, the one-time code mailed for it and a
verified request with its access token; ``verify_by_mail`` for a test's own app;
``cooling_off_over`` to end a closure's wait; ``bearer`` and ``approver`` for the calls that follow.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest


@pytest.fixture
def customer(make_app, request):
    """Factory: register a customer in the directory; returns its subject id.

    Through the test's latest app (all share the database): starting the default ``app`` as
    well would add its queue consumers, with other delivery settings, beside the test's own.
    """
    from privacy_service.subjects.directory import register

    def factory(email=None, phone=None, name="测试用户"):
        app = make_app.apps[-1] if make_app.apps else request.getfixturevalue("app")
        rt = app.extensions["privacy"]
        with app.app_context():
            subject = register(rt.db.session, email=email, phone=phone, name=name)
            rt.db.session.commit()
            return subject.id

    return factory


@pytest.fixture
def code_from(smtp, rt):
    """Factory: wait for the n-th message carrying a code and return the 6-digit code in it.

    Messages about other outcomes (verified, export ready, ...) carry no code and do not count.
    ``code_from(rid=...)`` returns the latest code sent for that request instead.
    """

    def factory(n: int = 1, *, rid: str | None = None) -> str:
        rt.notifier.wait()
        if rid:
            return smtp.code_for(rid)
        with smtp._cond:
            smtp._cond.wait_for(lambda: len(smtp.codes()) >= n, timeout=10)
        found = smtp.codes()
        assert len(found) >= n, f"expected {n} code message(s), got {len(found)}"
        return found[n - 1]

    def count() -> int:
        rt.notifier.wait()
        return len(smtp.codes())

    factory.count = count
    return factory


@pytest.fixture
def submit(client):
    """Factory: submit a request; returns the response."""

    def factory(headers=None, **body):
        body.setdefault("type", "access")
        return client.post("/api/v1/requests", json=body, headers=headers or {})

    return factory


@pytest.fixture
def verified(submit, client, code_from, customer, rt, smtp):
    """Factory: a verified request for a (new) customer; returns (request id, token)."""

    def factory(email="demo@example.com", type="access", **body):
        from privacy_service.subjects.directory import find_by_contact

        with client.application.app_context():
            known = find_by_contact(rt.db.session, "email", email) is not None
            rt.db.session.commit()
        if not known:
            customer(email=email)
        before = code_from.count()
        rid = submit(type=type, email=email, **body).json["id"]
        code = code_from(before + 1)
        answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
        assert answer.status_code == 200, answer.json
        return rid, answer.json["access_token"]

    return factory


def verify_by_mail(app, client, smtp, rid: str) -> None:
    """Verify request ``rid`` of ``app`` with the code in the first message the inbox got.

    For a test on an app of its own, whose inbox holds that request's code and nothing before it.
    """
    app.extensions["privacy"].notifier.wait()
    code = re.search(r"\b(\d{6})\b", smtp.wait_for(1)[0].get_payload(decode=True).decode()).group(1)
    assert client.post(f"/api/v1/requests/{rid}/verify", json={"code": code}).status_code == 200


def cooling_off_over(session, rid: str) -> None:
    """The cooling-off period of closure request ``rid`` ended a minute ago (committed)."""
    from sqlalchemy import update

    from privacy_service.requests.models import DataRequest

    session.execute(
        update(DataRequest)
        .where(DataRequest.id == rid)
        .values(cooling_off_until=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    )
    session.commit()


def bearer(token: str) -> dict:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def approver(app, email: str = "li.na@shop.example") -> str:
    """An active agent account for ``--by`` (the CLI names staff accounts only); its e-mail."""
    from sqlalchemy import select

    from privacy_service.team.accounts import StaffUser, create

    rt = app.extensions["privacy"]
    session = rt.db.new_session()
    try:
        if session.scalar(select(StaffUser).where(StaffUser.email == email)) is None:
            create(session, email=email, role="agent", password="correct horse battery")
            session.commit()
    finally:
        session.close()
    return email
