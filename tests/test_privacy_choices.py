"""Privacy choices: opting out of marketing e-mail, SMS and personalised ads at once, no review."""

import io
import json
import zipfile

import pytest
from conftest import bearer
from sqlalchemy import select

from exports.worker import run_pending as build_exports
from privacy_service.audit import AuditEntry
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

ALL_OFF = {"marketing_email": False, "marketing_sms": False, "personalised_ads": False}


def test_opt_out_of_everything_at_once_through_the_api(app, rt, session, verified, client):
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=3)
    rid, token = verified()
    shown = client.get("/api/v1/privacy-choices", headers=bearer(token))
    assert shown.status_code == 200 and set(shown.json) == set(ALL_OFF)
    changed = client.put("/api/v1/privacy-choices", json=ALL_OFF, headers=bearer(token))
    assert changed.status_code == 200 and changed.json == ALL_OFF
    with rt.sources["shop"].connect() as conn:
        row = conn.execute(
            select(shop.preferences).where(shop.preferences.c.customer_id == 1)
        ).one()
        other = conn.execute(
            select(shop.preferences).where(shop.preferences.c.customer_id == 2)
        ).one()
    assert (row.email_notifications, row.sms_notifications, row.personalised_ads) == (
        False,
        False,
        False,
    ), "written to the shop at once, no review"
    assert other.customer_id == 2
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "privacy_choices.changed")
    ).one()
    assert entry.actor == "customer" and entry.details["choices"] == ALL_OFF

    back_on = client.put(
        "/api/v1/privacy-choices", json={"marketing_sms": True}, headers=bearer(token)
    )
    assert back_on.json == {**ALL_OFF, "marketing_sms": True}

    assert build_exports(rt.export_deps()) == 1
    archive = zipfile.ZipFile(
        io.BytesIO(client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token)).data)
    )
    prefs = json.loads(archive.read("preferences/preferences.json"))["records"][0]
    assert prefs["email_notifications"] is False and prefs["sms_notifications"] is True


def test_choices_need_a_token_and_a_valid_body(app, rt, session, verified, client):
    seed(session, rt.sources["shop"], customers=1, browsing_per_customer=1)
    _, token = verified()
    assert client.get("/api/v1/privacy-choices").status_code == 401
    assert client.put("/api/v1/privacy-choices", json=ALL_OFF).status_code == 401
    for body in ({}, {"marketing_email": "nope"}, {"newsletter": False}, []):
        answer = client.put("/api/v1/privacy-choices", json=body, headers=bearer(token))
        assert answer.status_code == 422, body
        assert answer.headers["Content-Type"] == "application/problem+json"
    assert "/api/v1/privacy-choices" in client.get("/api/openapi.json").json["paths"]
