"""The transactional outbox: notices written with their change, sealed, sent once by a queue task
over real SMTP, on the SQLite queue and real Redis, each on SQLite and PostgreSQL; retries on a
mail server that is down; a worker killed mid-send; the broker in ``/readyz``; and how fast a
code arrives."""

import datetime as dt
import signal
import socket
import statistics
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from conftest import SmtpServer, SmtpSink, worker_env
from forkserver import start_worker
from mailfix import free_port
from sqlalchemy import select, update

from privacy_service.crypto.keystore import DataKey
from privacy_service.notices import outbox
from privacy_service.notices.outbox import OutboxMessage
from privacy_service.subjects.directory import register
from privacy_service.tasks.sweeper import sweep

EMAIL = "outbox@example.com"


def _rows(rt, **where):
    session = rt.db.new_session()
    try:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.position)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        found = session.scalars(query).all()
        session.expunge_all()
        return found
    finally:
        session.close()


def _customer(app, email=EMAIL):
    """Register a customer through ``app`` (the ``customer`` fixture would start another app,
    with consumers of its own on the same queue)."""
    rt = app.extensions["privacy"]
    session = rt.db.new_session()
    try:
        register(session, email=email, name="测试用户")
        session.commit()
    finally:
        session.close()


def _wait(predicate, timeout=20.0, step=0.01):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)
    return found


def _write(rt, texts, *, request_id=None, commit=True):
    """Write messages in one transaction, as a service does; returns the session's row ids."""
    session = rt.db.new_session()
    try:
        ids = [
            outbox.add(
                session,
                kind="team",
                channel="email",
                to=EMAIL,
                subject=f"subject {i}",
                text=text,
                request_id=request_id,
            ).id
            for i, text in enumerate(texts)
        ]
        session.commit() if commit else session.rollback()
        return ids
    finally:
        session.close()


def test_a_code_goes_through_the_sealed_outbox_once_and_is_shredded_after(
    make_app, queue_settings, smtp
):
    app = make_app(**queue_settings)
    rt = app.extensions["privacy"]
    _customer(app)
    rid = app.test_client().post("/api/v1/requests", json={"type": "access", "email": EMAIL})
    rid = rid.json["id"]
    code = smtp.code_for(rid)
    rt.notifier.wait()
    [row] = _rows(rt, request_id=rid)
    assert (row.kind, row.channel, row.status, row.attempts) == ("received", "email", "sent", 0)
    assert row.to_enc is None and row.body_enc is None and row.sent_at is not None
    session = rt.db.new_session()
    try:
        key = session.get(DataKey, row.id)
        assert key.owner_kind == "outbox" and key.wrapped is None and key.shredded_at
    finally:
        session.close()
    assert len([b for b in smtp.bodies() if rid in b]) == 1
    assert code in smtp.bodies()[0]


def test_nothing_readable_rests_in_the_outbox_or_the_broker(make_app, queue_settings, smtp):
    app = make_app(notice_consumer=False, **queue_settings)  # nothing consumes: it all waits
    rt = app.extensions["privacy"]
    code = "482913"
    [row_id] = _write(rt, [f"your code is {code}"])
    [row] = _rows(rt, id=row_id)
    assert row.status == "pending" and row.to_enc and row.body_enc
    for envelope in (row.to_enc, row.body_enc):
        assert EMAIL.encode() not in envelope and code.encode() not in envelope
    queued = list(rt.queue.fast.storage.enqueued_items())
    assert len(queued) == 1
    assert row_id.encode() in queued[0]  # the task names the batch, nothing else
    assert EMAIL.encode() not in queued[0] and code.encode() not in queued[0]
    assert rt.queue.waiting() == {("notice", row_id)}


def test_a_rollback_writes_and_enqueues_nothing(make_app, smtp):
    app = make_app(notice_consumer=False)
    rt = app.extensions["privacy"]
    _write(rt, ["never sent"], commit=False)
    assert _rows(rt) == [] and rt.queue.waiting() == set()


def test_one_claim_at_a_time_and_one_send(make_app, smtp):
    app = make_app(notice_consumer=False)
    rt = app.extensions["privacy"]
    [row_id] = _write(rt, ["once"])
    first, second = rt.db.new_session(), rt.db.new_session()
    try:
        assert [m.id for m in outbox.claim(first, row_id, "worker-a", 60)] == [row_id]
        assert outbox.claim(second, row_id, "worker-b", 60) == [], "held by worker-a"
        assert not outbox.mark_sent(second, row_id, "worker-b"), "only the holder marks it"
        assert outbox.mark_sent(first, row_id, "worker-a")
        assert not outbox.mark_sent(first, row_id, "worker-a"), "sent once"
    finally:
        first.close()
        second.close()
    # A duplicate task finds nothing to send.
    rt.queue.enqueue("notice", row_id)
    assert rt.queue.fast.execute(rt.queue.fast.dequeue()) == "skipped"
    assert smtp.messages == []


@pytest.mark.slow  # waits out the retry delays (~5 s, whatever the machine)
def test_a_mail_server_that_is_down_is_retried_with_backoff_keeping_the_order(
    make_app, queue_settings
):
    port = free_port()  # nothing listens yet
    app = make_app(smtp_port=port, task_retry_seconds=1, smtp_timeout=2, **queue_settings)
    rt = app.extensions["privacy"]
    rid = app.test_client().post("/api/v1/requests", json={"type": "access", "email": EMAIL})
    rid = rid.json["id"]
    _write(rt, ["first of the change", "second of the change"], request_id=rid)
    _wait(lambda: any(r.attempts >= 2 for r in _rows(rt, request_id=rid)), timeout=30)
    rows = _rows(rt, request_id=rid)
    assert [r.status for r in rows] == ["pending", "pending"]
    assert rows[0].error == "ConnectionRefusedError" and rows[1].attempts == 0, "waits its turn"
    server = SmtpServer()  # a second server, on the port the app was told to use
    sink = SmtpSink(port)
    sink.address = rt.settings.mail_from
    server.inboxes[sink.address] = sink
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sink.wait_for(2, timeout=30)
        time.sleep(0.3)  # room for a (wrong) resend
        assert [b.strip() for b in sink.bodies()] == ["first of the change", "second of the change"]
    finally:
        controller.stop()
    rows = _rows(rt, request_id=rid)
    assert [r.status for r in rows] == ["sent", "sent"] and rows[0].attempts >= 2


def test_a_message_that_keeps_failing_is_given_up_and_shredded(make_app):
    app = make_app(smtp_port=free_port(), task_retry_seconds=0, notice_max_attempts=2)
    rt = app.extensions["privacy"]
    [row_id] = _write(rt, ["never arrives"])
    [row] = _wait(lambda: [r for r in _rows(rt, id=row_id) if r.status == "failed"])
    assert row.attempts == 2 and row.error == "ConnectionRefusedError"
    assert row.to_enc is None and row.body_enc is None


def test_the_sweeper_brings_back_a_lost_notice_task(make_app, queue_settings, smtp, runner_for):
    app = make_app(notice_consumer=False, **queue_settings)
    rt = app.extensions["privacy"]
    _write(rt, ["swept"])
    rt.queue.flush()  # as if the process died between the commit and the push
    assert sweep(rt, rt.queue) == 1
    assert sweep(rt, rt.queue) == 0, "a task already waiting is not enqueued twice"
    status = runner_for(app).invoke(["tasks", "status"]).output
    assert "customer lane (lookups, notices): pending 1;" in status
    assert "outbox: pending 1; sent 0; failed 0" in status
    assert rt.queue.fast.execute(rt.queue.fast.dequeue()) == "sent"
    smtp.wait_for(1)
    assert sweep(rt, rt.queue) == 0
    assert (
        "outbox: pending 0; sent 1; failed 0" in runner_for(app).invoke(["tasks", "status"]).output
    )


class _Silent:
    """A TCP server that accepts and never answers: an SMTP send hangs on it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.slow
def test_a_worker_killed_after_the_commit_and_before_delivery_delivers_once_after_restart(
    make_app, queue_settings, smtp, tmp_path
):
    app = make_app(notice_consumer=False, **queue_settings)  # only the worker process sends
    rt = app.extensions["privacy"]
    _customer(app)
    silent = _Silent()
    common = {"smtp_host": "127.0.0.1", "notice_lease_seconds": 2, **queue_settings}
    worker = start_worker(worker_env(app, tmp_path, smtp_port=silent.port, **common), tmp_path)
    try:
        rid = app.test_client().post("/api/v1/requests", json={"type": "access", "email": EMAIL})
        rid = rid.json["id"]
        # The worker looked the contact up, wrote the code's notice, claimed it, and now waits
        # for a mail server that never answers.
        _wait(lambda: [r for r in _rows(rt, request_id=rid) if r.claimed_by], timeout=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
        silent.close()
    assert smtp.bodies() == [] and rt.queue.waiting() == set(), "the task died with the worker"
    [row] = _rows(rt, request_id=rid)
    assert row.status == "pending" and row.to_enc is not None

    worker = start_worker(worker_env(app, tmp_path, smtp_port=smtp.port, **common), tmp_path)
    try:
        smtp.code_for(rid, timeout=60)  # swept at start, sent once the dead claim ran out
        time.sleep(1)  # room for a (wrong) second send
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert len([b for b in smtp.bodies() if rid in b]) == 1
    [row] = _rows(rt, request_id=rid)
    assert row.status == "sent" and row.to_enc is None and row.body_enc is None


def test_readyz_checks_the_task_broker(make_app, queue_settings):
    client = make_app(**queue_settings).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["queue"] == "ok"


def test_readyz_names_an_unreachable_broker(make_app):
    url = f"redis://127.0.0.1:{free_port()}/0"
    client = make_app(queue_url=url, notice_consumer=False).test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["errors"] == {"queue": ["ConnectionError"]}
    assert str(url) not in answer.get_data(as_text=True)


def _measure(smtp, act, n):
    """Seconds from each ``act()`` (a commit) until the SMTP server holds one more message."""
    times = []
    for i in range(n):
        before = len(smtp.messages)
        start = time.perf_counter()
        act(i)
        _wait(lambda: len(smtp.messages) > before, timeout=10, step=0.001)  # noqa: B023
        times.append(time.perf_counter() - start)
    return times


@pytest.mark.service_poll  # measures the latency the service's poll interval gives
def test_commit_to_delivered_is_fast(make_app, queue_settings, smtp, backend, capsys):
    app = make_app(**queue_settings)
    rt = app.extensions["privacy"]
    client = app.test_client()
    _customer(app)
    rt.notifier.wait()
    notice = _measure(smtp, lambda i: _write(rt, [f"notice {i}"]), 20)
    code = _measure(
        smtp,
        lambda i: client.post("/api/v1/requests", json={"type": "access", "email": EMAIL}),
        10,
    )
    with capsys.disabled():
        for name, times in (("notice commit->delivered", notice), ("submit->code", code)):
            print(
                f"\n[{rt.queue.backend} queue, {backend} db] {name}: median "
                f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
            )
    # Generous bounds: the machine is shared; the point is no poll of seconds on the way.
    assert statistics.median(notice) < 1.0 and statistics.median(code) < 2.0


def test_closed_messages_are_purged_after_the_keep_period_in_batches_and_unsent_ones_stay(
    make_app, smtp, monkeypatch
):
    from privacy_service import jobs
    from privacy_service.audit import AuditEntry

    app = make_app(notice_consumer=False, notice_keep_days=30)
    rt = app.extensions["privacy"]
    *sent, failed, recent, unsent, held, retrying = _write(rt, [f"m{i}" for i in range(8)])
    session = rt.db.new_session()
    try:
        for row_id in [*sent, recent]:
            outbox.claim(session, row_id, "w", 60)
            assert outbox.mark_sent(session, row_id, "w")
        outbox.claim(session, failed, "w", 60)
        outbox.record_failure(
            session, failed, failed, "w", OSError(), base_seconds=1, max_attempts=1
        )
        outbox.claim(session, held, "holder", 600)  # a worker is sending it now
        outbox.claim(session, retrying, "w", 60)
        assert outbox.record_failure(
            session, retrying, retrying, "w", OSError(), base_seconds=1, max_attempts=5
        )
        now = outbox.utcnow()
        old = [*sent, failed, unsent, held, retrying]
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(old))
            .values(created_at=now - dt.timedelta(days=31))
        )
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == recent)
            .values(created_at=now - dt.timedelta(days=29))
        )
        session.commit()
        closed_keys = [*sent, failed]
        assert all(session.get(DataKey, i).shredded_at for i in closed_keys)
        session.commit()  # (SQLite: no transaction of this session stays open across the job)

        monkeypatch.setattr(outbox, "PURGE_BATCH", 2)  # 4 rows: two batches, then none
        spec = next(s for s in jobs.JOBS if s.id == "notices.purge")
        assert jobs.run_job(rt, spec) == 4
        left = {r.id: r.status for r in _rows(rt)}
        assert left == {recent: "sent", unsent: "pending", held: "pending", retrying: "pending"}
        session.expire_all()
        # The closed rows' key markers went with them; the unsent rows' keys are whole.
        assert all(session.get(DataKey, i) is None for i in closed_keys)
        assert all(session.get(DataKey, i).wrapped for i in (unsent, held, retrying))
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "notices.purged")
        ).all()
        assert entry.details == {"rows": 4, "days": 30} and entry.actor == "system"
        session.commit()
        # Nothing more is old enough: a second pass removes nothing and audits nothing.
        assert outbox.purge(session, now - dt.timedelta(days=30)) == 0
        assert outbox.purge(session, now - dt.timedelta(days=28)) == 1  # the recent sent one
        assert {r.id for r in _rows(rt)} == {unsent, held, retrying}
    finally:
        session.close()
