"""Erasures that survive being interrupted: an erasure stopped mid-run, or a worker killed
mid-deletion, finishes on the next run without double effects."""

import datetime as dt
import signal
import time

import forkserver
import pytest
from conftest import worker_env
from dbfix import count_rows as count
from erasurefix import LI_NA, NOW, status
from journeyfix import verify_by_mail
from sqlalchemy import func, select, update

from privacy_service.audit import AuditEntry
from privacy_service.demo import seed
from privacy_service.demo import shop_schema as shop
from privacy_service.requests.models import DataRequest
from retention.processor import run_pending

# The agent the CLI's ``--by`` names, in every test (erasurefix).
pytestmark = pytest.mark.usefixtures("li_na")


@pytest.fixture
def shop_db(app, rt, session):
    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=40, now=NOW)
    return rt.sources["shop"]


def test_an_interrupted_erasure_resumes_without_double_effects(
    shop_db, verified, runner, rt, session, client
):
    rid, token = verified(type="deletion", categories=["browsing", "lists", "devices"])
    runner.invoke(args=["requests", "approve", rid, "--by", LI_NA])
    deps = rt.erasure_deps()
    deps.batch = 7
    calls = {"n": 0}

    def crash(step, rows):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")

    deps.progress = crash
    with pytest.raises(KeyboardInterrupt):
        run_pending(deps)
    assert 0 < count(shop_db, shop.browsing_events, shop.browsing_events.c.customer_id == 1) < 40
    session.execute(
        update(DataRequest).values(claim_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.commit()
    deps.progress = None
    assert run_pending(deps) == 1
    assert count(shop_db, shop.browsing_events, shop.browsing_events.c.customer_id == 1) == 0
    receipt = status(client, rid, token)["receipt"]
    assert receipt["categories"]["browsing"]["deleted"] == 40, "counts from the plan, not the rerun"
    done = session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "erasure.step_done")
    )
    assert done == len(session.get(DataRequest, rid).erasure_plan["steps"])


@pytest.mark.slow
def test_a_worker_killed_mid_deletion_finishes_on_the_next_run(
    make_app, database_url, tmp_path, session, smtp, backend
):
    app = make_app()
    rt = app.extensions["privacy"]
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=60_000, now=NOW)
    client = app.test_client()
    rid = client.post(
        "/api/v1/requests",
        json={"type": "deletion", "email": "demo@example.com", "categories": ["browsing"]},
    ).json["id"]
    verify_by_mail(app, client, smtp, rid)
    from privacy_service.requests import staff

    staff.approve(session, rt.collector(), session.get(DataRequest, rid), actor="staff:li.na")
    session.commit()
    env = worker_env(app, tmp_path, erasure_batch=200)
    worker = forkserver.start(["erasures", "run"], env, folder=tmp_path)
    be = shop.browsing_events
    deadline = time.monotonic() + 60
    while count(rt.sources["shop"], be, be.c.customer_id == 1) > 59_000:
        assert worker.poll() is None, worker.stderr()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    left = count(rt.sources["shop"], be, be.c.customer_id == 1)
    assert 0 < left < 60_000, "killed half-way"
    session.expire_all()
    assert session.get(DataRequest, rid).status == "in_progress"
    session.execute(
        update(DataRequest).values(claim_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.commit()
    assert run_pending(rt.erasure_deps()) == 1
    assert count(rt.sources["shop"], be, be.c.customer_id == 1) == 0
    assert count(rt.sources["shop"], be, be.c.customer_id == 2) == 60_000
    session.expire_all()
    request = session.get(DataRequest, rid)
    assert request.status == "completed"
    assert request.receipt["categories"]["browsing"]["deleted"] == 60_000
