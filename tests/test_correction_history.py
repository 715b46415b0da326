"""Corrections history: the original kept sealed, shown in the next export, erased with its data."""

import io
import json
import zipfile

from conftest import bearer
from sqlalchemy import func, select

from exports.worker import run_pending as build_exports
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.requests import staff
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.history import CorrectionRecord
from retention.processor import run_pending as run_erasures


def _correct(verified, session, rt, field, value, category="account", **extra):
    rid, _ = verified(
        type="correction",
        corrections=[{"category": category, "field": field, "value": value, **extra}],
    )
    staff.approve(session, rt.collector(), session.get(DataRequest, rid), actor="staff:li.na")
    session.commit()
    return rid


def test_history_appears_in_the_next_export(app, rt, session, verified, client):
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=3)
    _correct(verified, session, rt, "wechat_nickname", "小明的新昵称")
    rid, token = verified()
    assert build_exports(rt.export_deps()) == 1
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    history = json.loads(archive.read("corrections_history/corrections_history.json"))
    [record] = history["records"]
    assert record["field"] == "wechat_nickname" and record["new_value"] == "小明的新昵称"
    assert record["old_value"] and record["old_value"] != "小明的新昵称"
    assert record["approved_by"] == "staff:li.na" and record["approved_at"]
    assert history["name"]["en"] == "Corrections history"


def test_deleting_a_category_takes_its_history_with_it(app, rt, session, verified):
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=3)
    _correct(verified, session, rt, "wechat_nickname", "新昵称")
    with rt.sources["shop"].connect() as conn:
        address = conn.execute(
            select(shop.addresses.c.id).where(shop.addresses.c.customer_id == 1).limit(1)
        ).scalar()
    _correct(verified, session, rt, "recipient", "王小明", category="addresses", record_id=address)
    assert session.scalar(select(func.count()).select_from(CorrectionRecord)) == 2
    rid, _ = verified(type="deletion", categories=["addresses"])
    staff.approve(session, rt.collector(), session.get(DataRequest, rid), actor="staff:li.na")
    session.commit()
    assert run_erasures(rt.erasure_deps()) == 1
    left = session.scalars(select(CorrectionRecord.corrected_category)).all()
    assert left == ["account"], "the account's history stays with the account"
    receipt = session.get(DataRequest, rid).receipt
    with rt.sources["shop"].connect() as conn:
        addresses = conn.execute(
            select(func.count()).where(shop.addresses.c.customer_id == 1)
        ).scalar()
    assert addresses == 0
    assert receipt["categories"]["addresses"]["deleted"] >= 2, "addresses and their history"
