"""The task queue, on the embedded SQLite store and on real Redis: enqueue on commit, the
sweeper, retries with backoff, failures on the staff page with a retry, progress, and a worker
killed mid-task."""

import datetime as dt
import itertools
import re
import signal
import time
from pathlib import Path

import pytest
from conftest import bearer, run_at_once, run_queue, worker_env
from forkserver import start_worker
from sqlalchemy import func, select

from privacy_service.audit import AuditEntry
from privacy_service.demo import seed
from privacy_service.requests.models import DataRequest, ExportArchive
from privacy_service.tasks.sweeper import sweep

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def qapp(make_app, queue_settings, session):
    """Factory: an app on the queue backend under test (no consumer unless asked), its demo shop
    seeded with ``customers`` having ``browsing`` rows each; returns (app, runtime, client)."""

    def factory(customers=1, browsing=5, **overrides):
        app = make_app(**queue_settings, **overrides)
        rt = app.extensions["privacy"]
        if customers:
            seed(
                session,
                rt.sources["shop"],
                customers=customers,
                browsing_per_customer=browsing,
                now=NOW,
            )
        return app, rt, app.test_client()

    return factory


def _mail_about(smtp, rid, pattern, timeout=15.0):
    """The first match of ``pattern`` in a message about request ``rid`` (waits for delivery)."""
    deadline = time.monotonic() + timeout
    while True:
        for body in smtp.bodies():
            found = re.search(pattern, body) if rid in body else None
            if found:
                return found
        assert time.monotonic() < deadline, f"no message about {rid} matching {pattern!r}"
        time.sleep(0.02)


def _verify(client, rt, smtp, **body):
    body = {"type": "access", "email": "demo@example.com", **body}
    rid = client.post("/api/v1/requests", json=body).json["id"]
    code = _mail_about(smtp, rid, r"\b(\d{6})\b").group(1)
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert answer.status_code == 200, answer.json
    return rid, answer.json["access_token"]


def _wait(predicate, timeout=20.0, step=0.02):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


def _count(session, action, rid):
    session.expire_all()
    found = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.request_id == rid)
    )
    session.commit()
    return found


def test_a_verified_export_is_built_at_once_by_the_in_process_consumer(qapp, session, smtp):
    _, rt, client = qapp(customers=2, browsing=50, queue_consumer=True, queue_workers=2)
    rid, token = _verify(client, rt, smtp)

    def status():
        return client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json

    _wait(lambda: status()["status"] == "completed")  # no poll, no CLI: the queue ran it
    view = status()
    assert view["progress"]["state"] == "ready"
    total = view["progress"]["categories_total"]
    assert total and view["progress"]["categories_done"] == total
    assert client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token)).status_code == 200
    _mail_about(smtp, rid, f"/r/{rid}")  # the export-ready notice, with the page's link
    assert _count(session, "export.built", rid) == 1


def test_work_is_enqueued_only_once_its_transaction_commits(qapp, session, smtp):
    _, rt, client = qapp()
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "demo@example.com"})
    rid = rid.json["id"]
    # The customer lane's consumer looks the contact up and sends the code: done before the
    # flush, or its notice task would be queued after it (a race the tests' fast poll lost).
    rt.notifier.wait()
    rt.queue.flush()
    own = rt.db.new_session()  # a session of this app: its commits enqueue on its queue
    own.add(ExportArchive(request_id=rid, status="queued", max_downloads=5))
    own.flush()
    assert rt.queue.waiting() == set(), "nothing before the commit"
    own.rollback()
    assert rt.queue.waiting() == set(), "nothing after a rollback"
    own.add(ExportArchive(request_id=rid, status="queued", max_downloads=5))
    own.commit()
    own.close()
    assert rt.queue.waiting() == {("export", rid)}


def test_the_sweeper_enqueues_work_whose_task_was_lost(qapp, session, smtp):
    _, rt, client = qapp()
    rid, token = _verify(client, rt, smtp)
    assert ("export", rid) in rt.queue.waiting()
    rt.notifier.wait()  # the "verified" notice is sent: only the export is left to sweep
    rt.queue.flush()  # as if the process died between the commit and the push
    assert sweep(rt, rt.queue) == 1
    assert sweep(rt, rt.queue) == 0, "a task already waiting is not enqueued twice"
    run_queue(rt)
    assert client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["status"] == (
        "completed"
    )
    rt.notifier.wait()  # the "export ready" notice is sent
    assert sweep(rt, rt.queue) == 0
    assert _count(session, "export.built", rid) == 1


def test_a_duplicate_task_does_no_work_twice(qapp, session, smtp):
    _, rt, client = qapp()
    rid, _ = _verify(client, rt, smtp)
    rt.queue.enqueue("export", rid)
    rt.queue.enqueue("export", rid)
    assert run_queue(rt) >= 3
    assert _count(session, "export.built", rid) == 1


@pytest.mark.slow  # waits out two retry delays (1 s, then 2 s)
def test_failures_retry_with_backoff_then_show_on_the_staff_page_with_a_retry(
    qapp, session, smtp, tmp_path
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the exports directory should be")
    app, rt, client = qapp(
        queue_consumer=True, task_retry_seconds=1, export_max_attempts=3, exports_dir=str(blocked)
    )
    rid, token = _verify(client, rt, smtp)

    def archive():
        session.expire_all()
        found = session.get(ExportArchive, rid)
        session.commit()
        return found

    _wait(lambda: archive().status == "failed", timeout=30)
    assert (archive().attempts, archive().error) == (3, "FileExistsError")
    failed_at = session.scalars(
        select(AuditEntry.at)
        .where(AuditEntry.action == "export.failed", AuditEntry.request_id == rid)
        .order_by(AuditEntry.seq)
    ).all()
    session.commit()  # SQLite: end the read (BEGIN IMMEDIATE holds the write lock)
    # Lower bounds only (a slow machine makes gaps longer, never shorter): the delay doubles.
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(failed_at)]
    assert len(gaps) == 2 and gaps[0] >= 0.9 and gaps[1] >= 1.9, f"backoff doubles: {gaps}"
    assert client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["progress"][
        "state"
    ] == ("failed")

    from privacy_service.team.accounts import create

    for role in ("agent", "auditor"):
        create(session, email=f"{role}@shop.example", role=role, password="correct horse battery")
    session.commit()
    staff = app.test_client()

    def login(email):
        page = staff.get("/staff/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        staff.post(
            "/staff/login",
            data={"csrf": csrf, "email": email, "password": "correct horse battery"},
        )

    login("auditor@shop.example")
    page = staff.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "FileExistsError" in page and 'id="retry-task"' not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert staff.post(f"/staff/requests/{rid}/retry", data={"csrf": csrf}).status_code == 403
    staff.post("/staff/logout", data={"csrf": csrf})

    login("agent@shop.example")
    page = staff.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert 'id="retry-task"' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert staff.post(f"/staff/requests/{rid}/retry", data={"csrf": "wrong"}).status_code == 400
    blocked.unlink()  # the cause is fixed
    assert staff.post(f"/staff/requests/{rid}/retry", data={"csrf": csrf}).status_code == 303
    _wait(lambda: archive().status == "ready", timeout=20)
    assert _count(session, "task.retried", rid) == 1
    view = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert view["status"] == "completed" and view["reasons"] == []
    assert staff.post(f"/staff/requests/{rid}/retry", data={"csrf": csrf}).status_code == 409


def test_a_deletion_runs_on_the_queue_once_approved(qapp, session, smtp):
    _, rt, client = qapp(customers=2, browsing=30, queue_consumer=True)
    rid, token = _verify(client, rt, smtp, type="deletion", categories=["browsing"])
    rt.notifier.wait()  # the "verified" notice is sent
    assert rt.queue.waiting() == set(), "nothing is due before approval"
    from privacy_service.requests import staff

    own = rt.db.new_session()  # a session of this app: its commit enqueues the erasure
    staff.approve(own, rt.collector(), own.get(DataRequest, rid), actor="staff:li.na")
    own.commit()
    own.close()
    _wait(
        lambda: (
            client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["status"]
            == "completed"
        )
    )
    receipt = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["receipt"]
    assert receipt["categories"]["browsing"]["deleted"] == 30


@pytest.mark.slow
def test_a_worker_killed_mid_task_finishes_it_exactly_once_after_restart(
    qapp, queue_settings, session, smtp, tmp_path
):
    # Enough browsing for the build to last well past the kill (~1 s of it at idle).
    app, rt, client = qapp(browsing=40_000, export_lease_seconds=2)
    env = worker_env(app, tmp_path, export_lease_seconds=2, **queue_settings)
    exports_dir = Path(rt.settings.exports_dir)
    rid, token = _verify(client, rt, smtp)  # the export is enqueued at the commit
    # The code and "verified" notices are sent before the worker starts: its sweep at start
    # would enqueue one taken but not yet marked sent again (a harmless duplicate, scheduled
    # for when its claim runs out), and only the export's task is to be in its hands.
    rt.notifier.wait()
    worker = start_worker(env, tmp_path)  # takes the export
    try:
        _wait(lambda: worker.poll() is None and list(exports_dir.glob("*.partial")), timeout=60)
        time.sleep(0.3)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert rt.queue.waiting() == set(), "the task left the queue with the dead worker"
    session.expire_all()
    assert session.get(ExportArchive, rid).status == "building"
    session.commit()

    # Sweeps at start: the lost task comes back, scheduled for when the dead worker's claim
    # runs out.
    worker = start_worker(env, tmp_path)
    try:
        _wait(
            lambda: (
                client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["status"]
                == "completed"
            ),
            timeout=90,
        )
        time.sleep(0.5)  # room for a (wrong) second run to show up
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert _count(session, "export.built", rid) == 1
    session.expire_all()
    assert session.get(ExportArchive, rid).attempts == 2
    session.commit()


def test_a_failing_deletion_is_retried_then_shown_and_retried_by_staff(qapp, session, smtp):
    from privacy_service.requests import staff
    from privacy_service.tasks import failures
    from privacy_service.tasks.models import TaskFailure

    _, rt, client = qapp(
        browsing=10, queue_consumer=True, task_retry_seconds=1, export_max_attempts=2
    )
    rid, token = _verify(client, rt, smtp, type="deletion", categories=["browsing"])
    own = rt.db.new_session()
    request = own.get(DataRequest, rid)
    # A plan the worker cannot read: a fault of ours, not a source that is down (that one
    # waits without using up attempts).
    request.erasure_plan = {"broken": True}
    staff.approve(own, rt.collector(), request, actor="staff:li.na")
    own.commit()

    def failure():
        session.expire_all()
        found = session.get(TaskFailure, (rid, "erasure"))
        session.commit()
        return found

    _wait(lambda: failure() is not None and failure().permanent, timeout=30)
    assert failure().attempts == 2 and failure().error == "KeyError"
    assert sweep(rt, rt.queue) == 0, "a task that failed for good is not swept back"
    own.expire_all()
    request = own.get(DataRequest, rid)
    assert request.status == "in_progress" and failures.retryable(own, request)
    request.erasure_plan = None  # the cause is fixed: the worker plans again
    failures.retry(own, request, actor="staff:li.na")
    own.commit()
    own.close()
    _wait(
        lambda: (
            client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["status"]
            == "completed"
        )
    )
    assert failure() is None, "a task that succeeded leaves no failure behind"
    assert _count(session, "task.retried", rid) == 1
    assert _count(session, "task.failed", rid) == 2


def test_two_schedulers_sweep_once(qapp, session):
    from privacy_service import jobs

    _, rt, _ = qapp(customers=0)
    assert {s.id for s in jobs.JOBS} >= {"tasks.sweep", "closures.end_cooling_off"}
    assert not {"exports.build", "erasures.run", "requests.resolve_identities"} & {
        s.id for s in jobs.JOBS
    }, "no polling jobs for on-demand work"
    spec = next(s for s in jobs.JOBS if s.id == "tasks.sweep")
    assert sorted(run_at_once(rt, spec), key=str) == [0, None]


def test_every_scheduler_fires_each_job_at_the_same_moments():
    """Schedulers started at different times agree on fire times; the lease's quiet period
    covers a late twin and ends before the next fire: one run per schedule."""
    from privacy_service import jobs

    zone = "Asia/Shanghai"
    now = dt.datetime.now(dt.UTC)
    for spec in jobs.JOBS:
        first = jobs.trigger_for(spec, zone).get_next_fire_time(None, now)
        later = now + dt.timedelta(seconds=7)  # a second process, started 7 s later
        if first > later:
            assert jobs.trigger_for(spec, zone).get_next_fire_time(None, later) == first, spec.id
        following = jobs.trigger_for(spec, zone).get_next_fire_time(first, first)
        interval = (following - first).total_seconds()
        assert 0 < spec.quiet_seconds < interval, spec.id


def test_progress_counts_categories_as_the_build_writes_them(qapp, session, smtp):
    from exports import worker

    _, rt, client = qapp()
    rid, token = _verify(client, rt, smtp)

    def progress():
        return client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["progress"]

    queued = progress()
    assert queued["state"] == "queued" and queued["categories_done"] == 0
    total = queued["categories_total"]
    assert total > 1
    assert client.get(f"/r/{rid}/progress").status_code in (302, 303, 401, 403), "signed in only"

    # While building, the count lives in the queue's store (any web node reads it).
    own = rt.db.new_session()
    own.get(ExportArchive, rid).status = "building"
    own.commit()
    rt.queue.set_progress(rid, 3)
    seen = progress()
    assert (seen["state"], seen["categories_done"], seen["categories_total"]) == (
        "building",
        3,
        total,
    )
    own.get(ExportArchive, rid).status = "queued"
    own.commit()
    own.close()
    run_queue(rt)  # the task builds it, writing the count as it goes, and clears it at the end
    assert rt.queue.progress(rid) is None
    assert progress() == {"state": "ready", "categories_done": total, "categories_total": total}

    # build()'s callback reports before the first category and after each one.
    second, _ = _verify(client, rt, smtp)
    reported = []
    deps = rt.export_deps()
    deps.progress = lambda request_id, done: reported.append((request_id, done))
    assert worker.run_pending(deps) == 1
    assert reported == [(second, n) for n in range(total + 1)]
