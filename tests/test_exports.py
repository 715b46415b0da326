"""Exports: the ZIP's contents and shapes, encryption at rest, delivery limits, workers that
never build twice, bounded retries, and the page in a real browser. (A worker killed mid-build:
test_exports_killed_worker.py.)"""

import datetime as dt
import hashlib
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import bearer, run_queue
from sqlalchemy import func, select, update

from exports.worker import run_pending
from privacy_service.audit import AuditEntry
from privacy_service.crypto import DecryptionError
from privacy_service.crypto.stream import open_sealed, owner_of
from privacy_service.demo import seed
from privacy_service.requests.models import DataRequest, ExportArchive

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def shop(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=40, now=NOW)
    return rt.sources["shop"]


@pytest.fixture
def access(shop, client, code_from, smtp):
    """A verified access request of the demo customer: (request id, token)."""
    rid = client.post(
        "/api/v1/requests", json={"type": "access", "email": "demo@example.com"}
    ).json["id"]
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(1)})
    assert answer.status_code == 200
    return rid, answer.json["access_token"]


def _download(client, rid, token):
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    return answer, (zipfile.ZipFile(io.BytesIO(answer.data)) if answer.status_code == 200 else None)


def test_access_request_completes_without_staff_and_the_zip_checks_out(access, client, rt, smtp):
    rid, token = access
    assert client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token)).status_code == 409
    assert run_pending(rt.export_deps()) == 1
    status = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert status["status"] == "completed"
    assert status["export"]["status"] == "ready" and status["export"]["downloads_left"] == 5

    answer, archive = _download(client, rid, token)
    assert answer.headers["Content-Type"] == "application/zip"
    assert "attachment" in answer.headers["Content-Disposition"]
    names = set(archive.namelist())
    manifest = json.loads(archive.read("manifest.json"))
    assert {"manifest.json", "README.md", "index.html"} <= names
    assert manifest["request_id"] == rid and manifest["subject"] and manifest["built_at"]
    assert {f["path"] for f in manifest["files"]} == names - {"manifest.json"}
    for entry in manifest["files"]:
        data = archive.read(entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
    for category in (
        "account",
        "addresses",
        "orders",
        "identity_documents",
        "payments",
        "browsing",
        "lists",
        "reviews_profile",
        "support_contacts",
        "devices",
        "preferences",
    ):
        assert f"{category}/{category}.json" in names and f"{category}/{category}.csv" in names
    assert manifest["categories"]["browsing"]["records"] == 40

    # The customer was told (a notice task), without personal data in the message.
    run_queue(rt)
    rt.notifier.wait()
    ready = smtp.wait_for(2)[1]
    text = ready.get_payload(decode=True).decode()
    assert rid in text and "张伟" not in text and "demo@example.com" not in text


def test_format_shapes(access, client, rt):
    """Snapshot of the shapes: JSON keys, CSV header, README and index contents."""
    rid, token = access
    run_pending(rt.export_deps())
    _, archive = _download(client, rid, token)
    orders = json.loads(archive.read("orders/orders.json"))
    assert list(orders) == [
        "category",
        "name",
        "description",
        "fields",
        "time_zone",
        "money",
        "records",
    ]
    assert orders["time_zone"] == "Asia/Shanghai"
    assert orders["money"]["total_cents"]["currency"] == "currency"
    assert orders["name"] == {"zh-CN": "订单记录", "en": "Orders"}
    assert orders["fields"]["order_no"] == {"zh-CN": "订单号", "en": "Order number"}
    order = next(r for r in orders["records"] if r["record_type"] == "orders")
    assert list(order) == [
        "record_type",
        "id",
        "order_no",
        "status",
        "total_cents",
        "currency",
        "shipping_address",
        "placed_at",
        "shipped_at",
        "completed_at",
    ]
    assert order["placed_at"].endswith("+08:00")
    item = next(r for r in orders["records"] if r["record_type"] == "order_items")
    assert list(item) == [
        "record_type",
        "id",
        "order_no",
        "sku",
        "product_name",
        "quantity",
        "unit_price_cents",
    ]

    raw_csv = archive.read("orders/orders.csv")
    assert raw_csv.startswith("\ufeff".encode())
    header = raw_csv.decode("utf-8-sig").splitlines()[0]
    assert header == (
        "record_type,id,order_no,status,total_cents,currency,shipping_address,"
        "placed_at,shipped_at,completed_at,sku,product_name,quantity,unit_price_cents,"
        "reason,requested_at,updated_at"  # returns
    )
    payments = archive.read("payments/payments.csv").decode("utf-8-sig")
    assert "token" not in payments.splitlines()[0], "payment tokens are not exported"
    ids = json.loads(archive.read("identity_documents/identity_documents.json"))
    doc = next(r for r in ids["records"] if r["record_type"] == "identity_documents")
    assert len(doc["id_number"]) == 18
    readme = archive.read("README.md").decode()
    assert "# 您的个人信息副本 / Your personal data" in readme
    assert "| `order_no` | 订单号 | Order number | text |" in readme
    assert "| `total_cents` | 订单金额 | Order total | money, JSON: minor units (1/100 of" in readme
    index = archive.read("index.html").decode()
    assert (
        'href="html/orders-1.html"' in index and "http://" not in index and "https://" not in index
    )


def test_archive_is_encrypted_at_rest_and_tamper_evident(access, rt, session):
    rid, _ = access
    run_pending(rt.export_deps())
    archive = session.get(ExportArchive, rid)
    path = Path(rt.settings.exports_dir) / archive.storage_key
    raw = path.read_bytes()
    assert raw.startswith(b"PSX1")
    for plaintext in ("张伟".encode(), b"demo@example.com", b"13800138000", b"PK\x03\x04"):
        assert plaintext not in raw
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    owner, prefix = owner_of(io.BytesIO(raw))
    aead = rt.vault.data_key(session, owner)
    with pytest.raises(DecryptionError):
        reader = io.BytesIO(raw[:-10])
        owner_of(reader)
        b"".join(open_sealed(reader, aead, prefix, rid))
    tampered = bytearray(raw)
    tampered[40] ^= 1
    with pytest.raises(DecryptionError):
        reader = io.BytesIO(bytes(tampered))
        owner_of(reader)
        b"".join(open_sealed(reader, aead, prefix, rid))
    with pytest.raises(DecryptionError):  # bound to its request: renaming does not help
        reader = io.BytesIO(raw)
        owner_of(reader)
        b"".join(open_sealed(reader, aead, prefix, "another-request"))


def test_download_limit_and_expiry(access, client, rt, session):
    rid, token = access
    run_pending(rt.export_deps())
    for _ in range(5):
        assert _download(client, rid, token)[0].status_code == 200
    used = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert used.status_code == 410 and used.json["type"].endswith("/export-downloads-used")
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "export.downloaded")
        )
        == 5
    )
    session.execute(
        update(ExportArchive).values(
            downloads=0, expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        )
    )
    session.commit()
    expired = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert expired.status_code == 410 and expired.json["type"].endswith("/export-expired")
    # The clean-up job deletes the archive.
    key = session.get(ExportArchive, rid).storage_key
    session.commit()  # end the read: SQLite lets one writer in at a time
    from exports.worker import expire

    assert expire(rt.export_deps()) == 1
    assert not (Path(rt.settings.exports_dir) / key).exists()
    session.expire_all()
    assert session.get(ExportArchive, rid).status == "expired"


def test_a_token_cannot_download_another_customers_export(access, client, rt, verified):
    rid, _ = access
    run_pending(rt.export_deps())
    _, other_token = verified(email="someone@example.com")
    assert (
        client.get(f"/api/v1/requests/{rid}/export", headers=bearer(other_token)).status_code == 404
    )
    assert client.get(f"/api/v1/requests/{rid}/export").status_code == 401


def test_two_workers_never_build_the_same_export(shop, client, rt, session, customer, code_from):
    rids = []
    for n in range(4):
        rid = client.post(
            "/api/v1/requests", json={"type": "access", "email": "demo@example.com"}
        ).json["id"]
        assert (
            client.post(
                f"/api/v1/requests/{rid}/verify", json={"code": code_from(n + 1)}
            ).status_code
            == 200
        )
        rids.append(rid)
    built = []
    barrier = threading.Barrier(3)

    def work(name):
        barrier.wait()
        built.append(run_pending(rt.export_deps(), worker=name))

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(built) == 4
    done = session.scalars(
        select(AuditEntry.request_id).where(AuditEntry.action == "export.built")
    ).all()
    assert sorted(done) == sorted(rids)
    assert all(session.get(DataRequest, r).status == "completed" for r in rids)


class BrokenStorage:
    def __init__(self, real):
        self.real = real

    def writer(self, key):
        raise OSError("disk full")

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_retries_are_bounded_and_a_permanent_failure_shows_with_a_reason(
    access, client, rt, session
):
    rid, token = access
    deps = rt.export_deps()
    deps.storage = BrokenStorage(deps.storage)
    for _ in range(5):
        run_pending(deps)
    archive = session.get(ExportArchive, rid)
    assert (archive.status, archive.attempts, archive.error) == ("failed", 3, "OSError")
    status = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert status["status"] == "in_progress"
    assert status["reasons"][0]["code"] == "export_failed" and status["reasons"][0]["zh-CN"]


@pytest.mark.browser
def test_index_html_renders_in_chromium_and_shows_the_orders(
    access, client, rt, tmp_path, repo_root, new_context
):
    rid, token = access
    run_pending(rt.export_deps())
    _, archive = _download(client, rid, token)
    target = tmp_path / "unzipped"
    archive.extractall(target)
    order_no = json.loads(archive.read("orders/orders.json"))["records"][0]["order_no"]
    shots = repo_root / "test-artifacts"
    shots.mkdir(exist_ok=True)
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    requests_out = []
    page.on("request", lambda r: requests_out.append(r.url))
    page.goto((target / "index.html").as_uri())
    assert "您的个人信息" in page.title()
    page.screenshot(path=str(shots / "export-index.png"), full_page=True)
    page.get_by_role("link", name="订单记录").click()
    page.wait_for_load_state()
    assert order_no in page.content()
    assert page.locator("table tbody tr").count() > 0
    page.screenshot(path=str(shots / "export-orders.png"), full_page=True)
    assert all(url.startswith("file://") for url in requests_out), "no external resources"


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_json_document_is_valid_json_across_batches(count):
    from exports.formats import JsonMember
    from exports.values import Style, TableCodec

    rows = [(i, dt.datetime(2026, 1, 1, 12), "张伟", None) for i in range(count)]
    codec = TableCodec(("id", "at", "name", "x"), {}, Style(timezone="UTC"))
    member = JsonMember({"category": "t"})
    parts = [member.opening()]
    for start in range(0, count, 2):
        converted = codec.convert(rows[start : start + 2])
        parts.append(member.batch("t", codec.columns, converted.json, converted.n))
    parts.append(member.closing())
    doc = json.loads(b"".join(parts).decode())
    assert [r["id"] for r in doc["records"]] == list(range(count))
    assert all(r["at"] == "2026-01-01T12:00:00+00:00" for r in doc["records"])
