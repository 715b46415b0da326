"""Coming back: a verified customer whose token expired signs in again with a fresh code."""

import datetime as dt

import pytest
from conftest import bearer
from sqlalchemy import select, update

from privacy_service.audit import AuditEntry
from privacy_service.requests.models import DataRequest, Verification

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


def _expire_token(client, rt, rid):
    from privacy_service.requests import tokens

    with client.application.app_context():
        subject = rt.db.session.get(DataRequest, rid).subject_id
    return tokens.issue(rt.token_secret, subject_id=subject, request_id=rid, ttl_seconds=-10)


def test_verified_request_signs_in_again_with_a_new_code(
    make_app, customer, code_from, smtp, submit
):
    # The real cool-down: it must not stand in the way right after the first code was used.
    app = make_app(otp_resend_cooldown_seconds=60)
    client = app.test_client()
    rt = app.extensions["privacy"]
    customer(email="demo@example.com")
    rid = client.post(
        "/api/v1/requests", json={"type": "deletion", "email": "demo@example.com"}
    ).json["id"]
    first = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(1)})
    assert first.status_code == 200
    status_before = first.json["status"]
    stale = _expire_token(client, rt, rid)
    assert client.get(f"/api/v1/requests/{rid}", headers=bearer(stale)).status_code == 401

    resend = client.post(f"/api/v1/requests/{rid}/resend-code")
    assert resend.status_code == 202, resend.json
    again = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(2)})
    assert again.status_code == 200, again.json
    assert set(again.json) == {"status", "access_token", "token_type", "expires_in"}
    assert again.json["token_type"] == "Bearer" and again.json["expires_in"] > 0
    assert again.json["status"] == status_before
    assert again.json["access_token"] != first.json["access_token"]
    view = client.get(f"/api/v1/requests/{rid}", headers=bearer(again.json["access_token"]))
    assert view.status_code == 200 and view.json["status"] == status_before

    with app.app_context():
        found = rt.db.session.get(DataRequest, rid)
        assert found.status == status_before, "signing in again changes nothing"
        actions = rt.db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.request_id == rid)
        ).all()
    assert "request.signed_in_again" in actions
    assert actions.count("request.status_changed") == 2  # verified, awaiting_review: once


def test_a_code_outstanding_keeps_its_cooldown_and_the_send_cap_holds(
    make_app, customer, code_from
):
    app = make_app(otp_resend_cooldown_seconds=60, otp_max_sends=3)
    client = app.test_client()
    customer(email="demo@example.com")
    rid = client.post(
        "/api/v1/requests", json={"type": "access", "email": "demo@example.com"}
    ).json["id"]
    assert (
        client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(1)}).status_code
        == 200
    )
    assert client.post(f"/api/v1/requests/{rid}/resend-code").status_code == 202
    waiting = client.post(f"/api/v1/requests/{rid}/resend-code")
    assert waiting.status_code == 429 and waiting.json["type"].endswith("/resend-cooldown")
    assert (
        client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(2)}).status_code
        == 200
    )
    assert client.post(f"/api/v1/requests/{rid}/resend-code").status_code == 202  # third send
    assert (
        client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(3)}).status_code
        == 200
    )
    capped = client.post(f"/api/v1/requests/{rid}/resend-code")
    assert capped.status_code == 429 and capped.json["type"].endswith("/code-limit-reached")
    # The next day the window starts again.
    with app.app_context():
        rt = app.extensions["privacy"]
        day_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, seconds=5)
        rt.db.session.execute(
            update(Verification).values(window_started_at=day_ago, last_sent_at=day_ago)
        )
        rt.db.session.commit()
    assert client.post(f"/api/v1/requests/{rid}/resend-code").status_code == 202


def test_wrong_codes_on_sign_in_count_and_void(verified, client, code_from, smtp, rt):
    rid, _ = verified()
    before = code_from.count()
    assert client.post(f"/api/v1/requests/{rid}/resend-code").status_code == 202
    code = code_from(before + 1)
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(4):
        assert (
            client.post(f"/api/v1/requests/{rid}/verify", json={"code": wrong}).status_code == 400
        )
    assert client.post(f"/api/v1/requests/{rid}/verify", json={"code": wrong}).status_code == 429
    assert client.post(f"/api/v1/requests/{rid}/verify", json={"code": code}).status_code == 429


def test_completed_request_signs_in_again(verified, client, code_from, smtp, rt):
    rid, token = verified()
    assert client.post(f"/api/v1/requests/{rid}/cancel", headers=bearer(token)).status_code == 200
    before = code_from.count()
    assert client.post(f"/api/v1/requests/{rid}/resend-code").status_code == 202
    again = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(before + 1)})
    assert again.status_code == 200 and again.json["status"] == "cancelled"


def test_my_requests_lists_every_request_of_the_contact(verified, client, submit):
    rid_a, token = verified()
    rid_b, _ = verified(type="deletion")
    other, _ = verified(email="other@example.com")
    answer = client.get("/api/v1/requests", headers=bearer(token))
    assert answer.status_code == 200
    listed = [r["id"] for r in answer.json["requests"]]
    assert listed == [rid_b, rid_a], "newest first, only this customer's"
    assert other not in listed
    assert {r["status"] for r in answer.json["requests"]} <= {
        "verified",
        "completed",
        "awaiting_review",
        "in_progress",
    }
    assert client.get("/api/v1/requests").status_code == 401
    spec = client.get("/api/openapi.json").json
    assert "get" in spec["paths"]["/api/v1/requests"]


def test_working_days_left_only_while_open(verified, client):
    rid, token = verified(type="deletion")
    open_view = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert isinstance(open_view["working_days_left"], int) and open_view["overdue"] is False
    client.post(f"/api/v1/requests/{rid}/cancel", headers=bearer(token))
    closed = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert closed["status"] == "cancelled" and closed["working_days_left"] is None
