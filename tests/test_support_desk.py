"""The demo's customer-service desk in its own database: MariaDB (the real server) or SQLite.

The desk knows customers only by the contacts they used (typed the way agents type them), so
the demo customer is found there by e-mail and by phone, and their tickets, call notes and chat
transcripts reach the export; deleting the category reaches the desk too.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from conftest import approver, bearer
from shopfix import ShopDatabase
from sqlalchemy import create_engine, func, select

from exports.worker import run_pending as build_exports
from privacy_service.demo import seed, support_desk
from retention.processor import run_pending as run_erasures


@pytest.fixture(params=["mariadb", "sqlite"])
def desk_db(request, tmp_path):
    db = ShopDatabase(request.param, tmp_path)
    yield db
    db.drop()


@pytest.fixture
def demo_app(make_app, desk_db):
    app = make_app(source_support_url=desk_db.url)
    rt = app.extensions["privacy"]
    with app.app_context():
        seed(
            rt.db.session,
            rt.sources["shop"],
            customers=4,
            browsing_per_customer=3,
            support_engine=rt.sources["support"],
        )
    return app


def _verified(app, smtp, **body):
    client = app.test_client()
    rt = app.extensions["privacy"]
    before = len(smtp.messages)
    rid = client.post("/api/v1/requests", json=body).json["id"]
    rt.notifier.wait()
    smtp.wait_for(before + 1)
    code = re.search(r"\b(\d{6})\b", smtp.bodies()[before]).group(1)
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert answer.status_code == 200, answer.json
    return client, rid, answer.json["access_token"]


def test_desk_history_reaches_the_export(demo_app, smtp, desk_db):
    client, rid, token = _verified(demo_app, smtp, type="access", email="demo@example.com")
    assert build_exports(demo_app.extensions["privacy"].export_deps()) == 1
    archive = zipfile.ZipFile(
        io.BytesIO(client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token)).data)
    )
    manifest = json.loads(archive.read("manifest.json"))
    accounts = {(a["source"], a["key"]) for a in manifest["accounts"]}
    assert ("shop", "1") in accounts
    assert {k for s, k in accounts if s == "support"} == {"1"}, (
        "by e-mail only the desk contact that wrote (the one that called has no e-mail)"
    )
    tables = manifest["categories"]["support_contacts"]["tables"]
    assert tables["desk_tickets"] == 2 and tables["desk_call_notes"] == 1
    assert tables["desk_chats"] == 1 and tables["desk_contacts"] == 1


def test_deleting_support_contacts_reaches_the_desk(demo_app, smtp, desk_db, runner_for):
    client, rid, token = _verified(
        demo_app,
        smtp,
        type="deletion",
        email="demo@example.com",
        categories=["support_contacts"],
    )
    result = runner_for(demo_app).invoke(
        args=["requests", "approve", rid, "--by", approver(demo_app)]
    )
    assert result.exit_code == 0, result.output
    assert run_erasures(demo_app.extensions["privacy"].erasure_deps()) == 1
    engine = create_engine(desk_db.url)
    with engine.connect() as conn:
        tickets = conn.execute(
            select(func.count())
            .select_from(support_desk.desk_tickets)
            .where(support_desk.desk_tickets.c.contact_id == 1)
        ).scalar()
        others = conn.execute(select(func.count()).select_from(support_desk.desk_tickets)).scalar()
    engine.dispose()
    assert tickets == 0 and others > 0, "the demo customer's desk tickets went, nobody else's"
    receipt = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["receipt"]
    assert {(s["source"], s["action"], s["status"]) for s in receipt["sources"]} >= {
        ("support", "deletion", "done"),
        ("shop", "deletion", "done"),
    }
