"""The identity-document API for the shop's services: store, read with a purpose, find, delete."""

import pytest
from test_vault import id_number

from privacy_service.audit import AuditEntry

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

CUSTOMS = "customs-service-token-0123456789abcdef"
ORDERS = "orders-service-token-0123456789abcdef"


@pytest.fixture
def api(make_app, customer):
    app = make_app(service_tokens=f"customs:{CUSTOMS},orders:{ORDERS}")
    with app.app_context():
        from privacy_service.subjects.directory import register

        rt = app.extensions["privacy"]
        subject = register(rt.db.session, email="buyer@example.com", external_ref="shop-42")
        rt.db.session.commit()
    client = app.test_client()
    client.subject_id = subject.id
    return client


def auth(token=CUSTOMS):
    return {"Authorization": f"Bearer {token}"}


def test_store_read_find_delete(api, session_for=None):
    number = id_number(7)
    stored = api.post(
        "/api/v1/identity-documents",
        headers=auth(),
        json={"customer_ref": "shop-42", "id_number": number.lower(), "holder_name": "王芳"},
    )
    assert stored.status_code == 201, stored.json
    doc = stored.json
    assert doc["subject_id"] == api.subject_id
    assert doc["id_number_masked"] == number[:3] + "*" * 11 + number[-4:]
    assert "id_number" not in doc and number not in stored.get_data(as_text=True)

    again = api.post(
        "/api/v1/identity-documents",
        headers=auth(),
        json={"subject_id": api.subject_id, "id_number": number, "holder_name": "王芳"},
    )
    assert again.json["id"] == doc["id"], "the same number for the same customer is one document"

    read = api.get(
        f"/api/v1/identity-documents/{doc['id']}?purpose=customs_declaration", headers=auth()
    )
    assert read.status_code == 200
    assert read.json["id_number"] == number and read.json["holder_name"] == "王芳"
    assert read.json["last_read_at"]

    found = api.post(
        "/api/v1/identity-documents/search", headers=auth(ORDERS), json={"id_number": number}
    )
    assert [m["id"] for m in found.json["matches"]] == [doc["id"]]
    other = id_number(8)
    assert (
        api.post(
            "/api/v1/identity-documents/search", headers=auth(), json={"id_number": other}
        ).json["matches"]
        == []
    )

    assert api.delete(f"/api/v1/identity-documents/{doc['id']}", headers=auth()).status_code == 204
    assert (
        api.get(
            f"/api/v1/identity-documents/{doc['id']}?purpose=customs_declaration", headers=auth()
        ).status_code
        == 404
    )

    with api.application.app_context():
        rt = api.application.extensions["privacy"]
        reads = rt.db.session.query(AuditEntry).filter_by(action="identity_document.read").all()
        assert [(e.actor, e.details["purpose"]) for e in reads] == [
            ("service:customs", "customs_declaration")
        ]
        assert all(number not in str(e.details) for e in rt.db.session.query(AuditEntry))


def test_invalid_id_number_is_a_422_naming_the_field_without_the_value(api):
    number = id_number(9)
    bad = number[:17] + ("0" if number[17] != "0" else "1")
    answer = api.post(
        "/api/v1/identity-documents",
        headers=auth(),
        json={"customer_ref": "shop-42", "id_number": bad, "holder_name": "王芳"},
    )
    assert answer.status_code == 422
    assert "id_number" in answer.json["errors"]
    assert bad not in answer.get_data(as_text=True)
    unknown = api.post(
        "/api/v1/identity-documents",
        headers=auth(),
        json={"customer_ref": "nobody", "id_number": number, "holder_name": "王芳"},
    )
    assert unknown.status_code == 422 and "customer_ref" in unknown.json["errors"]


def test_service_tokens_are_required_and_customer_tokens_do_not_work(api, verified, client):
    body = {"customer_ref": "shop-42", "id_number": id_number(3), "holder_name": "王芳"}
    assert api.post("/api/v1/identity-documents", json=body).status_code == 401
    assert (
        api.post("/api/v1/identity-documents", json=body, headers=auth("x" * 40)).status_code == 401
    )
    _, customer_token = verified()
    answer = api.post("/api/v1/identity-documents", json=body, headers=auth(customer_token))
    assert answer.status_code == 401 and answer.json["type"].endswith("/invalid-service-token")


def test_reading_needs_a_known_purpose(api):
    doc = api.post(
        "/api/v1/identity-documents",
        headers=auth(),
        json={"customer_ref": "shop-42", "id_number": id_number(5), "holder_name": "王芳"},
    ).json
    assert api.get(f"/api/v1/identity-documents/{doc['id']}", headers=auth()).status_code == 422
    assert (
        api.get(
            f"/api/v1/identity-documents/{doc['id']}?purpose=marketing", headers=auth()
        ).status_code
        == 422
    )


def test_short_service_tokens_are_refused_at_start(make_app):
    from privacy_service.config import ConfigError

    with pytest.raises(ConfigError, match="at least 24"):
        make_app(service_tokens="customs:short")
