"""Notices for every outcome, received by a real SMTP server (aiosmtpd), in the request's language.

Each test walks a request to an outcome and reads the message the customer got. Messages carry
request ids, dates, counts and what the customer typed (partly hidden), nothing else personal.
"""

import datetime as dt
from email.header import decode_header, make_header

import pytest
from conftest import bearer
from journeyfix import cooling_off_over
from sqlalchemy import select, update

from exports.worker import run_pending as build_exports
from privacy_service import jobs
from privacy_service.app import create_app
from privacy_service.config import DEMO_POLICIES, ConfigError
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.requests import extension, staff
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.subjects.history import CorrectionRecord
from retention.processor import run_pending as run_erasures

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=5, now=NOW)
    return rt.sources["shop"]


def notices(smtp, rt, rid, count):
    """The (subject, body) of the messages about ``rid``, once ``count`` of them arrived.

    The notices of one change arrive in their order (verified, then cooling-off started).
    """
    rt.notifier.wait()
    with smtp._cond:
        smtp._cond.wait_for(lambda: len(_about(smtp, rid)) >= count, timeout=10)
    found = _about(smtp, rid)
    assert len(found) >= count, [s for s, _ in found]
    return found[:count]


def _about(smtp, rid):
    out = []
    for message in smtp.messages:
        body = message.get_payload(decode=True).decode()
        if rid in body:
            subject = " ".join(str(make_header(decode_header(message["Subject"]))).split())
            out.append((subject, body))
    return out


def _english(client, **body):
    return client.post("/api/v1/requests", json={"language": "en", **body})


def test_received_and_verified_in_english(shop_db, client, smtp, rt, code_from):
    rid = _english(client, type="access", email="demo@example.com").json["id"]
    [(subject, body)] = notices(smtp, rt, rid, 1)
    assert subject.startswith("We received your request") and "copy of my data" in body
    assert "验证码" not in body, "one language: the request's"
    client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(1)})
    subject, body = notices(smtp, rt, rid, 2)[1]
    assert subject.startswith("You are verified") and "will answer by" in body


def test_received_in_chinese_by_default(shop_db, client, smtp, rt):
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "demo@example.com"})
    rid = rid.json["id"]
    [(subject, body)] = notices(smtp, rt, rid, 1)
    assert subject.startswith("我们已收到您的请求") and "获取我的数据副本" in body


def test_refused_with_the_teams_reason(shop_db, verified, smtp, rt, session):
    rid, _ = verified(type="deletion")
    staff.refuse(
        session,
        session.get(DataRequest, rid),
        actor="staff:li.na",
        zh="订单纠纷处理中，暂不能删除",
        en="A dispute about an order is open",
    )
    session.commit()
    subject, body = notices(smtp, rt, rid, 3)[-1]
    assert subject.startswith("您的请求未能办理") and "订单纠纷处理中，暂不能删除" in body
    assert "dispute" not in body


def test_correction_done_says_what_changed_masked_and_keeps_history(
    shop_db, verified, smtp, rt, session
):
    rid, _ = verified(
        type="correction",
        corrections=[{"category": "account", "field": "name", "value": "王小明"}],
    )
    with shop_db.connect() as conn:
        before = conn.execute(select(shop.customers.c.name).where(shop.customers.c.id == 1))
        before = before.scalar()
    staff.approve(session, rt.collector(), session.get(DataRequest, rid), actor="staff:li.na")
    session.commit()
    subject, body = notices(smtp, rt, rid, 3)[-1]
    assert subject.startswith("您的信息已更正") and "姓名：王*" in body
    assert "王小明" not in body and before not in body
    [record] = session.scalars(select(CorrectionRecord)).all()
    assert record.old_value == before and record.new_value == "王小明"
    assert record.approved_by == "staff:li.na" and record.approved_at is not None
    assert before.encode() not in bytes(record.old_value_enc), "sealed, not plaintext"


def test_deletion_done_links_the_receipt(shop_db, verified, smtp, rt, session):
    rid, _ = verified(type="deletion", categories=["browsing"])
    staff.approve(session, rt.collector(), session.get(DataRequest, rid), actor="staff:li.na")
    session.commit()
    assert run_erasures(rt.erasure_deps()) == 1
    subject, body = notices(smtp, rt, rid, 3)[-1]
    assert subject.startswith("您的数据已删除")
    assert f"{rt.settings.public_url}/r/{rid}" in body


def _deliver_everything(engine):
    with engine.begin() as conn:
        conn.execute(
            update(shop.orders)
            .where(shop.orders.c.customer_id == 1)
            .values(status="completed", shipped_at=NOW, completed_at=NOW)
        )
        conn.execute(
            update(shop.gift_cards)
            .where(shop.gift_cards.c.customer_id == 1)
            .values(balance_cents=0)
        )


def test_closure_refused_while_a_parcel_is_on_its_way_then_cools_off_then_closes(
    shop_db, verified, client, smtp, rt, session
):
    _deliver_everything(shop_db)
    with shop_db.begin() as conn:
        first = conn.execute(
            select(shop.orders.c.id).where(shop.orders.c.customer_id == 1).limit(1)
        ).scalar()
        conn.execute(update(shop.orders).where(shop.orders.c.id == first).values(status="shipped"))
    rid, token = verified(type="account_closure")
    refused = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert [r["code"] for r in refused["reasons"]] == ["orders_in_transit"]
    subject, body = notices(smtp, rt, rid, 3)[-1]
    assert subject.startswith("暂时无法注销您的账户")
    assert "您有正在配送途中的订单（1）" in body and "请在签收订单后再申请注销" in body

    _deliver_everything(shop_db)
    rid, token = verified(type="account_closure")
    view = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert view["status"] == "cooling_off"
    subject, body = notices(smtp, rt, rid, 3)[-1]
    ends = dt.datetime.fromisoformat(view["cooling_off_until"]).astimezone(
        dt.timezone(dt.timedelta(hours=8))
    )
    assert subject.startswith("注销冷静期已开始")
    assert ends.strftime("%Y-%m-%d %H:%M") in body and f"/r/{rid}" in body and "撤销" in body

    cooling_off_over(session, rid)
    assert run_erasures(rt.erasure_deps()) == 1
    subject, body = notices(smtp, rt, rid, 4)[-1]
    assert subject.startswith("您的账户已注销"), "sent although the key is now destroyed"


def test_cooling_off_end_checks_again_a_return_on_its_way_back(
    shop_db, verified, client, smtp, rt, session
):
    _deliver_everything(shop_db)
    rid, token = verified(type="account_closure")
    assert client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["status"] == (
        "cooling_off"
    )
    with shop_db.begin() as conn:
        order = conn.execute(
            select(shop.orders.c.id).where(shop.orders.c.customer_id == 1).limit(1)
        ).scalar()
        conn.execute(
            shop.returns.insert().values(
                order_id=order,
                status="in_transit",
                reason="尺码不合适",
                requested_at=NOW,
                updated_at=NOW,
            )
        )
    cooling_off_over(session, rid)
    assert run_erasures(rt.erasure_deps()) == 0
    view = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert view["status"] == "rejected"
    assert [r["code"] for r in view["reasons"]] == ["returns_in_progress"]
    assert view["reasons"][0]["remedy"]["en"].startswith("Wait until the return")
    _subject, body = notices(smtp, rt, rid, 4)[-1]
    assert "您有处理中的退货" in body


def test_deadline_extended_in_a_gdpr_request(shop_db, client, smtp, rt, session, code_from):
    rid = _english(client, type="access", email="demo@example.com", jurisdiction="gdpr")
    rid = rid.json["id"]
    client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(1)})
    request = session.get(DataRequest, rid)
    old_due = request.due_date
    extension.extend(
        session,
        rt.policies,
        request,
        actor="staff:li.na",
        reason_zh="数据量大",
        reason_en="Many records to gather",
    )
    session.commit()
    [(subject, body)] = [n for n in notices(smtp, rt, rid, 3) if "more time" in n[0]]
    assert subject.startswith("We need more time")
    assert old_due.isoformat() in body and request.due_date.isoformat() in body
    assert "Many records to gather" in body
    cn = session.get(DataRequest, verified_cn(client, code_from))
    with pytest.raises(Exception, match="no extension"):
        extension.extend(
            session, rt.policies, cn, actor="staff:li.na", reason_zh="x", reason_en="y"
        )


def verified_cn(client, code_from):
    before = code_from.count()
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "demo@example.com"})
    rid = rid.json["id"]
    client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(before + 1)})
    return rid


def test_export_ready_then_about_to_expire(shop_db, verified, smtp, rt, session):
    rid, _ = verified()
    assert build_exports(rt.export_deps()) == 1
    subject, body = notices(smtp, rt, rid, 3)[-1]
    assert subject.startswith("您的个人信息副本已生成") and f"/r/{rid}" in body
    session.execute(
        update(ExportArchive).values(expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=5))
    )
    session.commit()
    assert jobs.warn_expiring_exports(session, rt) == 1
    session.commit()
    subject, body = notices(smtp, rt, rid, 4)[-1]
    assert subject.startswith("您的个人信息副本即将过期") and "还可下载 5 次" in body
    assert jobs.warn_expiring_exports(session, rt) == 0, "once"


def test_templates_are_editable_and_checked_at_start_up(make_app, tmp_path):
    import shutil

    policies = tmp_path / "policies"
    shutil.copytree(DEMO_POLICIES, policies)
    (policies / "notices").mkdir(exist_ok=True)
    (policies / "notices" / "verified.en.txt").write_text(
        "Subject: Verified {{ request_id }}\nHello {{ no_such_value }}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"verified\.en\.txt"):
        make_app(policies_dir=str(policies))
    (policies / "notices" / "verified.en.txt").write_text(
        "Subject: Checked {{ request_id }}\nAll good, due {{ due_date }}.\n", encoding="utf-8"
    )
    app = make_app(policies_dir=str(policies))
    texts = app.extensions["privacy"]
    assert texts.render_notice is not None
    assert create_app is not None
