"""Request intake, verification by one-time code over real SMTP, status and cancellation."""

import datetime as dt

import pytest
from conftest import bearer
from sqlalchemy import func, select, update

from privacy_service.requests.models import DataRequest, Verification

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

RECEIPT_KEYS = {"id", "type", "status", "received_at", "due_date", "due_date_provisional"}


def test_access_journey_with_code_from_a_real_smtp_message(
    client, customer, smtp, code_from, submit
):
    customer(email="demo@example.com")
    answer = submit(type="access", email="Demo@Example.com ")
    assert answer.status_code == 202
    assert set(answer.json) == RECEIPT_KEYS
    assert answer.json["status"] == "pending_verification"
    rid = answer.json["id"]

    code = code_from(1)
    message = smtp.messages[0]
    assert message["To"] == "demo@example.com"
    assert rid in smtp.bodies()[0]

    verified = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert verified.status_code == 200
    assert verified.json["token_type"] == "Bearer" and verified.json["expires_in"] > 0
    assert verified.json["status"] == "verified"

    status = client.get(f"/api/v1/requests/{rid}", headers=bearer(verified.json["access_token"]))
    assert status.status_code == 200
    body = status.json
    assert body["id"] == rid and body["status"] == "verified"
    assert body["due_date"] == answer.json["due_date"]
    assert isinstance(body["working_days_left"], int) and 0 < body["working_days_left"] <= 15
    assert body["can_cancel"] is True


def test_same_answer_whether_or_not_the_contact_is_a_customer(client, customer, smtp, rt, submit):
    customer(email="known@example.com")
    known = submit(email="known@example.com")
    unknown = submit(email="nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert set(known.json) == set(unknown.json) == RECEIPT_KEYS
    for key in ("type", "status", "due_date", "due_date_provisional"):
        assert known.json[key] == unknown.json[key]
    assert known.headers.get("Content-Type") == unknown.headers.get("Content-Type")
    rt.notifier.wait()
    assert [m["To"] for m in smtp.messages] == ["known@example.com"]
    # Verification attempts behave identically too.
    for answer in (known, unknown):
        wrong = client.post(f"/api/v1/requests/{answer.json['id']}/verify", json={"code": "000000"})
        assert wrong.status_code == 400 and wrong.json["detail"].endswith("Attempts left: 4.")
        resend = client.post(f"/api/v1/requests/{answer.json['id']}/resend-code")
        assert resend.status_code == 202
    assert {k: v for k, v in resend.json.items()} == {
        "status": "accepted",
        "detail": "If the contact belongs to an account, a new code is on its way.",
    }


def test_phone_requests_go_to_the_sms_gateway(make_app, customer, tmp_path):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = make_app(sms_webhook_url=f"http://127.0.0.1:{server.server_port}/sms")
        customer(phone="13800138000")
        answer = app.test_client().post(
            "/api/v1/requests", json={"type": "deletion", "phone": "+86 138-0013-8000"}
        )
        assert answer.status_code == 202
        app.extensions["privacy"].notifier.wait()
        assert received and received[0]["to"] == "13800138000"
        # In the request's language (Chinese by default), one language per message.
        assert "验证码" in received[0]["text"] and "verification code" not in received[0]["text"]
    finally:
        server.shutdown()


def test_without_smtp_codes_go_to_the_outbox_log(make_app, customer, tmp_path):
    app = make_app(smtp_host="")
    customer(email="demo@example.com")
    app.test_client().post("/api/v1/requests", json={"type": "access", "email": "demo@example.com"})
    app.extensions["privacy"].notifier.wait()
    outbox = (tmp_path / "instance" / "outbox.log").read_text()
    assert "d***@example.com" in outbox and "demo@example.com" not in outbox


def test_idempotency_key_replays_the_first_answer(client, session, submit):
    headers = {"Idempotency-Key": "retry-123"}
    first = submit(headers=headers, email="a@example.com")
    again = submit(headers=headers, email="a@example.com")
    assert first.status_code == again.status_code == 202
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert session.scalar(select(func.count()).select_from(DataRequest)) == 1
    other = submit(headers=headers, email="b@example.com")
    assert other.status_code == 422 and other.json["type"].endswith("/idempotency-key-reused")
    assert submit(headers={"Idempotency-Key": "x" * 300}, email="a@example.com").status_code == 422
    assert session.scalar(select(func.count()).select_from(DataRequest)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "access"}, "email"),
        ({"type": "access", "email": "a@example.com", "phone": "13800138000"}, "email"),
        ({"type": "access", "email": "not-an-email"}, "email"),
        ({"type": "access", "phone": "12345"}, "phone"),
        ({"type": "refund", "email": "a@example.com"}, "type"),
        ({"type": "access", "email": "a@example.com", "categories": ["pets"]}, "categories"),
        (
            {"type": "access", "email": "a@example.com", "categories": ["orders", "orders"]},
            "categories",
        ),
        ({"type": "correction", "email": "a@example.com"}, "corrections"),
        (
            {
                "type": "access",
                "email": "a@example.com",
                "corrections": [{"category": "account", "field": "name", "value": "x"}],
            },
            "corrections",
        ),
        ({"type": "access", "email": "a@example.com", "note": "x" * 2001}, "note"),
        ({"type": "access", "email": "a@example.com", "note": "bad\x00byte"}, "note"),
        ({"type": "access", "email": "a@example.com", "jurisdiction": "mars"}, "jurisdiction"),
        ({"type": "access", "email": "a@example.com", "admin": True}, "admin"),
    ],
)
def test_bad_input_is_a_structured_422_and_changes_nothing(client, session, body, field):
    answer = client.post("/api/v1/requests", json=body)
    assert answer.status_code == 422, answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(answer.json)
    assert field in answer.json["errors"]
    assert session.scalar(select(func.count()).select_from(DataRequest)) == 0


def test_non_json_bodies(client):
    assert client.post("/api/v1/requests", data="type=access").status_code == 415
    broken = client.post(
        "/api/v1/requests", data=b'{"type": "\xff"}', content_type="application/json"
    )
    assert broken.status_code == 400 and broken.json["type"].endswith("/bad-request")
    huge = client.post(
        "/api/v1/requests", data=b"{" + b" " * 70000 + b"}", content_type="application/json"
    )
    assert huge.status_code == 413 and huge.json["status"] == 413


def test_other_jurisdictions_come_from_policy(submit):
    gdpr = submit(email="eu@example.com", jurisdiction="gdpr").json
    received = dt.datetime.fromisoformat(gdpr["received_at"]).astimezone(
        dt.timezone(dt.timedelta(hours=1))
    )
    due = dt.date.fromisoformat(gdpr["due_date"])
    assert 28 <= (due - received.date()).days <= 31


def test_correction_keeps_values_encrypted_and_goes_to_review(verified, client, session, rt):
    rid, token = verified(
        type="correction",
        corrections=[
            {"category": "addresses", "field": "city", "value": "上海市浦东新区", "record_id": 3}
        ],
    )
    status = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert status["status"] == "awaiting_review"
    row = session.get(DataRequest, rid)
    assert b"\xe4\xb8\x8a\xe6\xb5\xb7" not in row.corrections_enc  # "上海" in UTF-8
    assert row.corrections == [
        {"category": "addresses", "field": "city", "value": "上海市浦东新区", "record_id": 3}
    ]


def test_wrong_codes_void_the_code_after_five_attempts(
    client, customer, submit, code_from, session
):
    customer(email="demo@example.com")
    rid = submit(email="demo@example.com").json["id"]
    code = code_from(1)
    wrong = "111111" if code != "111111" else "222222"
    for left in (4, 3, 2, 1):
        answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": wrong})
        assert answer.status_code == 400 and f"Attempts left: {left}." in answer.json["detail"]
    fifth = client.post(f"/api/v1/requests/{rid}/verify", json={"code": wrong})
    assert fifth.status_code == 429 and fifth.json["type"].endswith("/code-void")
    right = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert right.status_code == 429, "the right code no longer works once void"
    assert session.get(DataRequest, rid).status == "pending_verification"


def test_resend_replaces_the_code_and_respects_the_cooldown(make_app, customer, code_from, smtp):
    app = make_app(otp_resend_cooldown_seconds=60)
    client = app.test_client()
    customer(email="demo@example.com")
    rid = client.post(
        "/api/v1/requests", json={"type": "access", "email": "demo@example.com"}
    ).json["id"]
    first = code_from(1)
    limited = client.post(f"/api/v1/requests/{rid}/resend-code")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    with app.app_context():
        rt = app.extensions["privacy"]
        rt.db.session.execute(
            update(Verification).values(
                last_sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
            )
        )
        rt.db.session.commit()
    assert client.post(f"/api/v1/requests/{rid}/resend-code").status_code == 202
    second = code_from(2)
    if first != second:
        assert (
            client.post(f"/api/v1/requests/{rid}/verify", json={"code": first}).status_code == 400
        )
    assert client.post(f"/api/v1/requests/{rid}/verify", json={"code": second}).status_code == 200


def test_resend_is_limited(make_app, customer):
    app = make_app(otp_max_sends=2)
    client = app.test_client()
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "x@example.com"}).json[
        "id"
    ]
    assert client.post(f"/api/v1/requests/{rid}/resend-code").status_code == 202
    limited = client.post(f"/api/v1/requests/{rid}/resend-code")
    assert limited.status_code == 429 and limited.json["type"].endswith("/code-limit-reached")


def test_expired_code(client, customer, submit, code_from, session):
    customer(email="demo@example.com")
    rid = submit(email="demo@example.com").json["id"]
    code = code_from(1)
    session.execute(
        update(Verification).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.commit()
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert answer.status_code == 400 and answer.json["type"].endswith("/code-expired")


def test_code_is_stored_only_as_a_keyed_hash(client, customer, submit, code_from, session):
    customer(email="demo@example.com")
    rid = submit(email="demo@example.com").json["id"]
    code = code_from(1)
    row = session.get(Verification, rid)
    assert code not in row.code_hash and len(row.code_hash) == 64


def test_a_token_reads_only_its_own_customers_requests(verified, client, submit):
    rid_a, token_a = verified(email="alice@example.com")
    rid_b, _ = verified(email="bob@example.com")
    assert client.get(f"/api/v1/requests/{rid_a}", headers=bearer(token_a)).status_code == 200
    cross = client.get(f"/api/v1/requests/{rid_b}", headers=bearer(token_a))
    assert cross.status_code == 404
    assert (
        client.post(f"/api/v1/requests/{rid_b}/cancel", headers=bearer(token_a)).status_code == 404
    )
    assert client.get(f"/api/v1/requests/{rid_a}").status_code == 401
    assert (
        client.get(f"/api/v1/requests/{rid_a}", headers=bearer(token_a[:-3] + "abc")).status_code
        == 401
    )
    assert client.get("/api/v1/requests/not-a-uuid", headers=bearer(token_a)).status_code == 404


def test_expired_token_is_refused(verified, client, rt):
    from privacy_service.requests import tokens

    rid, _ = verified()
    with client.application.app_context():
        subject = (
            client.application.extensions["privacy"].db.session.get(DataRequest, rid).subject_id
        )
    stale = tokens.issue(rt.token_secret, subject_id=subject, request_id=rid, ttl_seconds=-10)
    answer = client.get(f"/api/v1/requests/{rid}", headers=bearer(stale))
    assert answer.status_code == 401 and answer.json["type"].endswith("/token-expired")


def test_cancel_then_cancel_again_is_a_409(verified, client):
    rid, token = verified()
    cancelled = client.post(f"/api/v1/requests/{rid}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert cancelled.json["can_cancel"] is False
    again = client.post(f"/api/v1/requests/{rid}/cancel", headers=bearer(token))
    assert again.status_code == 409 and again.json["type"].endswith("/not-cancellable")
    # No code outstanding (the one used is spent): a code must be asked for first.
    reverify = client.post(f"/api/v1/requests/{rid}/verify", json={"code": "123456"})
    assert reverify.status_code == 429 and reverify.json["type"].endswith("/code-void")


def test_openapi_document_and_docs_page(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    paths = spec.json["paths"]
    for path in (
        "/api/v1/requests",
        "/api/v1/requests/{request_id}/verify",
        "/api/v1/requests/{request_id}/resend-code",
        "/api/v1/requests/{request_id}",
        "/api/v1/requests/{request_id}/cancel",
    ):
        assert path in paths
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"/api/docs/assets/swagger-ui-bundle.js" in page.data
    assert b"http" not in page.data.split(b"<body>")[0].replace(b"http-equiv", b"")
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    missing = client.get("/nowhere")
    assert (
        missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"
    )
