"""An operator's own shop connected to the service (a pytest plugin), and a customer's way in.

``shop_db`` is the shop of ``shopfix`` on SQLite, MariaDB and (with ``TEST_DATABASE_URL``)
PostgreSQL; ``shop_app`` is the service pointed at it by a data map and an environment variable
alone. ``submit_and_verify`` takes a customer from submission to a verified request, reading the
code from real SMTP or, for phones, from the outbox (no SMS gateway). Modules of other tests
that name their own ``shop_db`` fixture (the demo's shop) override this one.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest
from journeyfix import bearer
from shopfix import DATAMAP, PG_URL, ShopDatabase, fill, write_policies
from sqlalchemy import create_engine

from exports.worker import run_pending as build_exports
from privacy_service.requests.models import DataRequest

SHOP_BACKENDS = ["sqlite", "mariadb"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=SHOP_BACKENDS)
def shop_db(request, tmp_path):
    db = ShopDatabase(request.param, tmp_path)
    yield db
    db.drop()


@pytest.fixture
def operator_app(make_app, shop_db, tmp_path, monkeypatch):
    """Factory: the service pointed at the operator's shop, filled (and nothing of the demo).

    ``datamap`` replaces the shop's data map; other keywords are the app's settings.
    """

    def factory(datamap: str = DATAMAP, **settings):
        engine = create_engine(shop_db.url)
        fill(engine)
        engine.dispose()
        monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", shop_db.url)
        return make_app(policies_dir=write_policies(tmp_path / "operator", datamap), **settings)

    return factory


@pytest.fixture
def shop_app(operator_app):
    """The service pointed at the operator's shop (and nothing of the demo)."""
    return operator_app()


@pytest.fixture
def shop_client(shop_app):
    return shop_app.test_client()


def rt_of(app):
    """The app's runtime."""
    return app.extensions["privacy"]


def _code(app, smtp, rid: str, before_sms: int, phone: bool) -> str:
    """The code just sent: by SMTP for e-mail, from the outbox for phones (no SMS gateway)."""
    rt = rt_of(app)
    # The wait covers a lookup retrying a source that timed out (seen on a loaded CI machine).
    rt.notifier.wait()
    if not phone:
        return smtp.code_for(rid)
    if _outbox_count(app) <= before_sms:
        with app.app_context():
            request = rt.db.session.get(DataRequest, rid)
            state = (request.identity_status, request.identity_errors, request.identity_attempts)
            rt.db.session.commit()
        raise AssertionError(f"no code sent to the phone; lookup (status, errors, tries): {state}")
    time.sleep(0.3)  # room for a (wrong) second code
    lines = Path(rt.settings.outbox_log).read_text(encoding="utf-8").splitlines()
    assert len(lines) == before_sms + 1, "exactly one code sent to the phone"
    return re.search(r"\b(\d{6})\b", json.loads(lines[-1])["text"]).group(1)


def _outbox_count(app) -> int:
    path = Path(rt_of(app).settings.outbox_log)
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def submit_and_verify(app, client, smtp, **body):
    """Submit a request (``type`` access unless given) and verify it; (request id, token)."""
    rt_of(app).notifier.wait()
    before_sms = _outbox_count(app)
    answer = client.post("/api/v1/requests", json={"type": "access", **body})
    assert answer.status_code == 202
    rid = answer.json["id"]
    code = _code(app, smtp, rid, before_sms, "phone" in body)
    verified = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert verified.status_code == 200, verified.json
    return rid, verified.json["access_token"]


def export_of(app, client, rid, token):
    """Build the request's export (the only one pending) and download it: the open ZIP."""
    assert build_exports(rt_of(app).export_deps()) == 1
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert answer.status_code == 200, answer.data[:300]
    return zipfile.ZipFile(io.BytesIO(answer.data))


def rows_of(archive, category):
    """The rows of ``category`` in an export archive."""
    return json.loads(archive.read(f"{category}/{category}.json"))
