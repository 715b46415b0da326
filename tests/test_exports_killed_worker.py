"""Exports: a worker killed mid-build leaves nothing visible, the next worker completes the
request once, and the partial file it abandoned is purged."""

import datetime as dt
import io
import json
import os
import signal
import time
import zipfile
from pathlib import Path

import forkserver
import pytest
from conftest import bearer, worker_env
from journeyfix import verify_by_mail
from sqlalchemy import func, select

from exports.worker import run_pending
from privacy_service.audit import AuditEntry
from privacy_service.demo import seed
from privacy_service.requests.models import DataRequest, ExportArchive

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.mark.slow
def test_worker_killed_mid_build_leaves_nothing_visible_and_the_request_completes_once(
    make_app, database_url, tmp_path, session, smtp
):
    app = make_app(export_lease_seconds=2)
    rt = app.extensions["privacy"]
    seed(session, rt.sources["shop"], customers=1, browsing_per_customer=150_000, now=NOW)
    client = app.test_client()
    rid = client.post(
        "/api/v1/requests", json={"type": "access", "email": "demo@example.com"}
    ).json["id"]
    verify_by_mail(app, client, smtp, rid)

    env = worker_env(app, tmp_path, export_lease_seconds=2)
    worker = forkserver.start(["exports", "build"], env, folder=tmp_path)
    exports_dir = Path(rt.settings.exports_dir)
    deadline = time.monotonic() + 60
    while not list(exports_dir.glob("*.partial")):
        assert worker.poll() is None, worker.stderr()
        assert time.monotonic() < deadline, "the worker never started writing"
        time.sleep(0.05)
    time.sleep(0.3)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    assert [p.name for p in exports_dir.iterdir() if not p.name.endswith(".partial")] == []
    session.expire_all()
    assert session.get(DataRequest, rid).status == "in_progress"
    assert session.get(ExportArchive, rid).status == "building"
    session.commit()

    time.sleep(2.1)  # the dead worker's lease runs out
    assert run_pending(rt.export_deps(), worker="second") == 1
    assert run_pending(rt.export_deps(), worker="third") == 0
    session.expire_all()
    archive = session.get(ExportArchive, rid)
    assert (archive.status, archive.attempts) == ("ready", 2)
    assert session.get(DataRequest, rid).status == "completed"
    built = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "export.built", AuditEntry.request_id == rid)
    )
    assert built == 1
    session.commit()
    from exports.worker import expire

    os.utime(next(exports_dir.glob("*.partial")), (0, 0))
    expire(rt.export_deps())
    assert not list(exports_dir.glob("*.partial")), "abandoned partial files are purged"
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(_token_for(app, rid)))
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(answer.data)).read("manifest.json"))
    assert manifest["categories"]["browsing"]["records"] == 150_000


def _token_for(app, rid):
    from privacy_service.requests import tokens

    rt = app.extensions["privacy"]
    with app.app_context():
        subject = rt.db.session.get(DataRequest, rid).subject_id
    return tokens.issue(rt.token_secret, subject_id=subject, request_id=rid, ttl_seconds=60)
