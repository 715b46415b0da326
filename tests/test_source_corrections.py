"""Corrections and anonymisation across three kinds of source, each its own step.

The operator's shop on the test's backend (SQLite, or PostgreSQL with TEST_DATABASE_URL), a
service desk on the real MariaDB, and a marketing-email provider played by a real HTTP server on
loopback: a name corrected reaches all three; the provider failing keeps the others' changes,
shows on the staff page, is retried (now, from the page) and nothing is written twice; the
customer hears once, when every source is done. Erasing a category the provider's record shares
with another anonymises the record through its declared call instead of deleting it.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import forkserver
import pytest
from conftest import approver, bearer, worker_env
from connectfix import rt_of, submit_and_verify
from shopfix import DATAMAP, MAILER, PG_URL, ShopDatabase, fill, members
from sqlalchemy import create_engine, func, select, text, update
from staffpages import csrf_of, sign_in_admin
from test_http_source import TOKEN, Provider, _handler

from privacy_service.audit import AuditEntry
from privacy_service.requests.models import DataRequest
from privacy_service.subjects.history import CorrectionRecord
from retention.processor import run_pending as run_erasures

SOURCES = """
  desk:
    title: {zh-CN: 客服系统, en: Service desk}
    url_env: PRIVACY_SOURCE_DESK_URL
    identity: {table: desk_people, column: id, contacts: {email: email}}
    tables:
      desk_people:
        fields:
          email: {category: support_contacts, type: email}
          full_name: {category: account, type: name, correctable: true}
"""
# The mail provider of test_http_source, taking corrections and anonymisation too.
SOURCES += MAILER.replace(
    '        erase: {method: DELETE, path: "/subscribers/{id}"}\n',
    '        erase: {method: DELETE, path: "/subscribers/{id}"}\n'
    '        update: {method: PATCH, path: "/subscribers/{id}"}\n'
    '        anonymise: {method: PATCH, path: "/subscribers/{id}"}\n',
).replace(
    "          email: {category: preferences, type: email}\n",
    "          email: {category: preferences, type: email}\n"
    "          full_name: {category: account, type: name, correctable: true}\n",
)
NEW_NAME = "李娜娜"


@pytest.fixture
def provider():
    state = Provider()
    state.subscribers["s1"]["full_name"] = "李娜"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def three_sources(make_app, tmp_path, monkeypatch, provider):
    crm = ShopDatabase("postgresql" if PG_URL else "sqlite", tmp_path)
    desk = ShopDatabase("mariadb", tmp_path)
    crm_engine, desk_engine = create_engine(crm.url), create_engine(desk.url)
    fill(crm_engine)
    with desk_engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE desk_people (id INTEGER PRIMARY KEY, email VARCHAR(200), "
                "full_name VARCHAR(64))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO desk_people VALUES (7, 'LI.NA@example.com', '李娜'), "
                "(8, 'wang@example.org', '王芳')"
            )
        )
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", crm.url)
    monkeypatch.setenv("PRIVACY_SOURCE_DESK_URL", desk.url)
    monkeypatch.setenv("PRIVACY_SOURCE_MAILER_URL", provider.url)
    monkeypatch.setenv("PRIVACY_SOURCE_MAILER_TOKEN", TOKEN)
    folder = tmp_path / "operator"
    folder.mkdir()
    (folder / "datamap.yaml").write_text(DATAMAP + SOURCES, encoding="utf-8")
    app = make_app(policies_dir=str(folder))
    yield app, crm_engine, desk_engine
    app.extensions["privacy"].dispose()  # no pooled connection holds the databases
    crm_engine.dispose()
    desk_engine.dispose()
    crm.drop()
    desk.drop()


def _names(crm, desk):
    with crm.connect() as conn:
        shop = dict(conn.execute(select(members.c.member_no, members.c.full_name)).all())
    with desk.connect() as conn:
        people = dict(conn.execute(text("SELECT id, full_name FROM desk_people")).all())
    return shop, people


def _steps(client, rid, token):
    body = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    return body, {(s["source"], s["action"]): s for s in body["sources"]}


def _notices(app, smtp, rid):
    rt_of(app).notifier.wait()
    return [m for m in smtp.bodies() if rid in m and ("已更正" in m or "corrected" in m)]


def _correction(app, client, smtp):
    """Li Na asks for her name to be corrected; verified, awaiting review."""
    return submit_and_verify(
        app,
        client,
        smtp,
        type="correction",
        email="li.na@example.com",
        corrections=[{"category": "account", "field": "full_name", "value": NEW_NAME}],
    )


def _count(app, model, *where):
    with app.app_context():
        return rt_of(app).db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_failing_provider_keeps_the_other_sources_corrections_and_is_retried(
    three_sources, provider, smtp, runner_for
):

    app, crm, desk = three_sources
    client = app.test_client()
    rid, token = _correction(app, client, smtp)
    provider.fail_next = 100
    result = runner_for(app).invoke(args=["requests", "approve", rid, "--by", approver(app)])
    assert result.exit_code == 0, result.output
    shop, people = _names(crm, desk)
    assert shop == {"M-001": NEW_NAME, "M-002": NEW_NAME, "M-003": "王芳"}
    assert people == {7: NEW_NAME, 8: "王芳"}
    assert provider.subscribers["s1"]["full_name"] == "李娜", "the provider was down"
    body, steps = _steps(client, rid, token)
    assert body["status"] == "in_progress"
    assert steps[("crm", "correction")]["status"] == "done"
    assert steps[("crm", "correction")]["rows"] == 2
    assert steps[("desk", "correction")]["status"] == "done"
    assert steps[("mailer", "correction")]["status"] == "failed"
    assert steps[("mailer", "correction")]["error"] == "HttpSourceError"
    assert _notices(app, smtp, rid) == [], "not told while a source is left"
    assert ("erasure", rid) in rt_of(app).queue.waiting(), "a task waits for the pause to end"
    assert run_erasures(rt_of(app).erasure_deps()) == 0, "retried after a pause, not at once"

    # Someone changes the shop's row meanwhile: a retry must not write the shop again.
    with crm.begin() as conn:
        conn.execute(update(members).where(members.c.member_no == "M-001").values(full_name="改"))

    staff = app.test_client()
    sign_in_admin(app, staff, "x" * 20)
    page = staff.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "HttpSourceError" in page and "sources/retry" in page
    provider.fail_next = 0
    retried = staff.post(
        f"/staff/requests/{rid}/sources/retry",
        data={"csrf": csrf_of(staff, f"/staff/requests/{rid}")},
    )
    assert retried.status_code == 303
    assert run_erasures(rt_of(app).erasure_deps()) == 1

    assert provider.subscribers["s1"]["full_name"] == NEW_NAME
    assert provider.patches == [("s1", {"full_name": NEW_NAME})], "one call, to her record only"
    shop, _people = _names(crm, desk)
    assert shop["M-001"] == "改", "the shop, done the first time, was not written again"
    body, steps = _steps(client, rid, token)
    assert body["status"] == "completed"
    assert steps[("mailer", "correction")]["status"] == "done"
    assert steps[("mailer", "correction")]["attempts"] == 2
    assert steps[("crm", "correction")]["attempts"] == 1
    [notice] = _notices(app, smtp, rid)
    assert "李*" in notice and NEW_NAME not in notice
    assert _count(app, CorrectionRecord, CorrectionRecord.request_id == rid) == 4, (
        "one history record per row changed: two shop accounts, the desk, the provider"
    )
    applied = _count(
        app,
        AuditEntry,
        AuditEntry.request_id == rid,
        AuditEntry.action == "correction.applied",
    )
    assert applied == 3, "one per source, each once"
    asked = _count(
        app,
        AuditEntry,
        AuditEntry.request_id == rid,
        AuditEntry.action == "source.retry_requested",
    )
    assert asked == 1


def test_a_source_marked_not_applicable_is_named_to_the_customer(
    three_sources, provider, smtp, runner_for
):
    from privacy_service.datamap import steps as source_steps

    app, _crm, _desk = three_sources
    client = app.test_client()
    rid, _token = _correction(app, client, smtp)
    provider.fail_next = 100
    runner_for(app).invoke(args=["requests", "approve", rid, "--by", approver(app)])
    with app.app_context():
        session = rt_of(app).db.session
        source_steps.mark_not_applicable(
            session, rid, "mailer", "correction", reason="account closed there", actor="x"
        )
        session.execute(update(DataRequest).where(DataRequest.id == rid).values(claim_until=None))
        session.commit()
    assert run_erasures(rt_of(app).erasure_deps()) == 1
    assert provider.patches == []
    [notice] = _notices(app, smtp, rid)
    assert "邮件营销服务" in notice, "the customer is told which system was not changed"


def test_erasing_a_shared_record_anonymises_it_at_the_provider(
    three_sources, provider, smtp, runner_for
):
    app, _crm, _desk = three_sources
    client = app.test_client()
    rid, token = submit_and_verify(
        app, client, smtp, type="deletion", email="li.na@example.com", categories=["preferences"]
    )
    result = runner_for(app).invoke(args=["requests", "approve", rid, "--by", approver(app)])
    assert result.exit_code == 0, result.output
    assert run_erasures(rt_of(app).erasure_deps()) == 1
    record = provider.subscribers["s1"]
    assert record["email"] is None, "the preference data went"
    assert record["full_name"] == "李娜", "her account name (not asked for) stays"
    assert provider.patches == [("s1", {"email": None})]
    assert sorted(provider.sends) == ["m5", "m6"], "send logs have no anonymise: erased"
    body = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert body["status"] == "completed"
    assert body["receipt"]["categories"]["preferences"] == {
        "deleted": 5,
        "anonymised": 1,
        "kept": [],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('        update: {method: PATCH, path: "/subscribers/{id}"}\n', ""), "declares update"),
        (('/subscribers/{id}"}\n        anonymise', '/subscribers"}\n        anonymise'), "{id}"),
    ],
)
def test_http_calls_are_checked_in_the_data_map(make_app, tmp_path, monkeypatch, change, message):
    from privacy_service.policies import PolicyError

    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{tmp_path / 'crm.db'}")
    monkeypatch.setenv("PRIVACY_SOURCE_DESK_URL", f"sqlite:///{tmp_path / 'desk.db'}")
    monkeypatch.setenv("PRIVACY_SOURCE_MAILER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PRIVACY_SOURCE_MAILER_TOKEN", TOKEN)
    folder = tmp_path / "operator"
    folder.mkdir()
    old, new = change
    assert old in SOURCES
    (folder / "datamap.yaml").write_text(DATAMAP + SOURCES.replace(old, new), encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        make_app(policies_dir=str(folder))
    assert "datamap.yaml" in str(exc.value) and message in str(exc.value)


@pytest.mark.slow  # kill -9 of a real process
def test_a_correction_killed_mid_way_resumes_once(
    three_sources, provider, smtp, runner_for, tmp_path
):
    """kill -9 of the approving process while it writes to the provider: the shop and the desk
    stand, the provider's step waits; the worker, once the lease has passed, finishes it with no
    second history record, no second write to the others and one notice."""
    app, crm, desk = three_sources
    client = app.test_client()
    rid, token = _correction(app, client, smtp)
    rt = rt_of(app)
    env = worker_env(app, tmp_path, policies_dir=rt.settings.policies_dir)
    by = approver(app)
    # The PATCH may come before ``start`` has told this test the process's id: it waits for it.
    started = threading.Event()

    def approving_process() -> int:
        assert started.wait(60), "the approval never started"
        return process.pid

    provider.kill_on_patch = approving_process
    process = forkserver.start(["requests", "approve", rid, "--by", by], env, folder=tmp_path)
    started.set()
    assert process.wait(timeout=60) == -9, ("killed while calling the provider", process.stderr())
    shop, people = _names(crm, desk)
    assert shop["M-001"] == NEW_NAME and people[7] == NEW_NAME
    body, steps = _steps(client, rid, token)
    assert body["status"] == "in_progress"
    assert steps[("mailer", "correction")]["status"] == "started"
    assert _count(app, CorrectionRecord, CorrectionRecord.request_id == rid) == 4, (
        "every history record was kept before the writes"
    )
    assert run_erasures(rt.erasure_deps()) == 0, "the dead process's lease still holds it"
    with app.app_context():
        rt.db.session.execute(
            update(DataRequest).where(DataRequest.id == rid).values(claim_until=None)
        )
        rt.db.session.commit()
    assert run_erasures(rt.erasure_deps()) == 1
    assert provider.patches == [("s1", {"full_name": NEW_NAME})]
    body, steps = _steps(client, rid, token)
    assert body["status"] == "completed"
    assert steps[("crm", "correction")]["attempts"] == 1
    assert _count(app, CorrectionRecord, CorrectionRecord.request_id == rid) == 4
    applied = _count(
        app, AuditEntry, AuditEntry.request_id == rid, AuditEntry.action == "correction.applied"
    )
    assert applied == 3
    assert len(_notices(app, smtp, rid)) == 1
