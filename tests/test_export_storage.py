"""Export storage: the local directory (default) and database rows that every web node reads."""

import datetime as dt
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from conftest import bearer
from sqlalchemy import func, select

from exports.storage_db import DatabaseStorage, ExportChunk
from exports.worker import expire, run_pending
from privacy_service.demo import seed
from privacy_service.requests.models import ExportArchive

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize("storage", ["local", "database"])
def test_an_export_built_on_one_node_downloads_from_another(
    make_app, session, code_from, storage, tmp_path
):
    builder = make_app(export_storage=storage)
    rt = builder.extensions["privacy"]
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=40, now=NOW)
    client = builder.test_client()
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "demo@example.com"})
    rid = rid.json["id"]
    token = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(1)}).json[
        "access_token"
    ]
    assert run_pending(rt.export_deps()) == 1
    files = (
        list(Path(rt.settings.exports_dir).glob("*"))
        if Path(rt.settings.exports_dir).exists()
        else []
    )
    chunks = session.scalar(select(func.count()).select_from(ExportChunk))
    session.commit()
    if storage == "database":
        assert files == [] and chunks >= 1, "nothing on this node's disk"
    else:
        assert len(files) == 1 and chunks == 0

    # Another web node: its own instance directory (an empty disk), the same database.
    node = (
        builder
        if storage == "local"
        else make_app(export_storage=storage, instance_dir=str(tmp_path / "node-2"))
    )
    answer = node.test_client().get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert answer.status_code == 200
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(answer.data)).read("manifest.json"))
    assert manifest["request_id"] == rid and manifest["categories"]["browsing"]["records"] == 40

    if storage == "local":
        return
    # Expiry deletes the rows.
    archive = session.get(ExportArchive, rid)
    archive.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    session.commit()
    assert expire(rt.export_deps()) == 1
    assert session.scalar(select(func.count()).select_from(ExportChunk)) == 0
    session.commit()


def test_database_storage_streams_chunks_and_a_failed_write_leaves_nothing(rt):
    store = DatabaseStorage(rt.db.engine, chunk=1000)
    data = os.urandom(10_500)
    with store.writer("a.zip.sealed") as fh:
        fh.write(data[:4000])
        fh.write(data[4000:])
    assert store.exists("a.zip.sealed") and store.size("a.zip.sealed") == len(data)
    with store.reader("a.zip.sealed") as fh:
        assert fh.read(3) == data[:3]
        assert fh.read() == data[3:]
    with pytest.raises(RuntimeError), store.writer("b.zip.sealed") as fh:
        fh.write(b"half")
        raise RuntimeError("killed mid-write")
    assert not store.exists("b.zip.sealed")
    with pytest.raises(FileNotFoundError):
        store.reader("b.zip.sealed")
    store.delete("a.zip.sealed")
    assert not store.exists("a.zip.sealed") and store.purge_partials(0) == 0
