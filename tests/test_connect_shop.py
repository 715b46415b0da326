"""Connecting an operator's own shop: only a data map and environment variables.

A shop unlike the demo (``members(member_no, mail, mobile)``, text keys), on SQLite, MariaDB and
(with ``TEST_DATABASE_URL``) PostgreSQL. Customers are found in the shop at submission, with no
registration step; the code arrives over real SMTP; the export holds their rows from every
account their contact matched; deletion and closure reach the shop; a source that is down gives
a visible, retried failure, never a silent "not a customer".
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from conftest import approver, bearer
from shopfix import DATAMAP, PG_URL, ShopDatabase, fill, member_addresses, members, write_policies
from sqlalchemy import select, update

from exports.worker import run_pending as build_exports
from privacy_service.datamap import steps
from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest
from privacy_service.requests.resolve import run_due
from privacy_service.subjects.models import Subject, SubjectAccount
from retention.processor import end_cooling_off
from retention.processor import run_pending as run_erasures

SHOP_BACKENDS = ["sqlite", "mariadb"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=SHOP_BACKENDS)
def shop_db(request, tmp_path):
    db = ShopDatabase(request.param, tmp_path)
    yield db
    db.drop()


@pytest.fixture
def shop_app(make_app, shop_db, tmp_path, monkeypatch):
    """The service pointed at the operator's shop (and nothing of the demo)."""
    from sqlalchemy import create_engine

    engine = create_engine(shop_db.url)
    fill(engine)
    engine.dispose()
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", shop_db.url)
    return make_app(policies_dir=write_policies(tmp_path / "operator"))


@pytest.fixture
def shop_client(shop_app):
    return shop_app.test_client()


def _rt(app):
    return app.extensions["privacy"]


def _code(app, smtp, rid: str, before_sms: int, phone: bool) -> str:
    """The code just sent: by SMTP for e-mail, from the outbox for phones (no SMS gateway)."""
    import re
    from pathlib import Path

    rt = _rt(app)
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
    from pathlib import Path

    path = Path(_rt(app).settings.outbox_log)
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def _submit_and_verify(app, client, smtp, **body):
    _rt(app).notifier.wait()
    before_sms = _outbox_count(app)
    answer = client.post("/api/v1/requests", json={"type": "access", **body})
    assert answer.status_code == 202
    rid = answer.json["id"]
    code = _code(app, smtp, rid, before_sms, "phone" in body)
    verified = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert verified.status_code == 200, verified.json
    return rid, verified.json["access_token"]


def _export(app, client, rid, token):
    assert build_exports(_rt(app).export_deps()) == 1
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    assert answer.status_code == 200, answer.data[:300]
    return zipfile.ZipFile(io.BytesIO(answer.data))


def _rows(archive, category):
    return json.loads(archive.read(f"{category}/{category}.json"))


def test_a_customer_of_a_never_seen_shop_gets_a_code_and_their_rows(
    shop_app, shop_client, smtp, shop_db
):
    """Submit -> code at SMTP -> verify -> export ZIP with both accounts of that e-mail."""
    rid, token = _submit_and_verify(shop_app, shop_client, smtp, email="LI.NA@example.com ")
    archive = _export(shop_app, shop_client, rid, token)
    manifest = json.loads(archive.read("manifest.json"))
    assert sorted(a["key"] for a in manifest["accounts"]) == ["M-001", "M-002"]
    dumped = json.dumps(
        [_rows(archive, c) for c in ("account", "addresses", "orders")], ensure_ascii=False
    )
    assert "李娜" in dumped and "SKU-M-001" in dumped and "SKU-M-002" in dumped
    assert "王芳" not in dumped and "SKU-M-003" not in dumped, "another customer's rows leaked"
    status = shop_client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert status["status"] == "completed"
    assert {(a["source"], a["key"]) for a in status["accounts"]} == {
        ("crm", "M-001"),
        ("crm", "M-002"),
    }
    done = {(s["action"], s["source"]): s for s in status["sources"]}
    assert done[("lookup", "crm")]["rows"] == 2 and done[("lookup", "crm")]["status"] == "done"
    assert done[("access", "crm")]["status"] == "done" and done[("access", "crm")]["rows"] > 0


def test_a_phone_typed_differently_matches_only_its_account(shop_app, shop_client, smtp):
    rid, token = _submit_and_verify(shop_app, shop_client, smtp, phone="139 1234 5678")
    archive = _export(shop_app, shop_client, rid, token)
    dumped = json.dumps(_rows(archive, "orders"), ensure_ascii=False)
    assert "SKU-M-001" in dumped and "SKU-M-002" not in dumped
    with shop_app.app_context():
        session = _rt(shop_app).db.session
        request = session.get(DataRequest, rid)
        subject = session.get(Subject, request.subject_id)
        assert subject.phone == "13912345678", "registered at first match, contact normalised"
        links = session.scalars(select(SubjectAccount.account_key)).all()
        assert links == ["M-001"]


def test_the_same_person_by_email_later_joins_the_same_subject(shop_app, shop_client, smtp):
    first, _ = _submit_and_verify(shop_app, shop_client, smtp, phone="+8613912345678")
    second, _ = _submit_and_verify(shop_app, shop_client, smtp, email="li.na@example.com")
    with shop_app.app_context():
        session = _rt(shop_app).db.session
        a, b = session.get(DataRequest, first), session.get(DataRequest, second)
        assert a.subject_id == b.subject_id, "M-001 was already that subject's account"
        assert session.scalar(select(SubjectAccount).where(SubjectAccount.account_key == "M-002"))


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_no_match_answers_the_same_and_sends_nothing(shop_app, shop_client, smtp, shop_db):
    known = shop_client.post(
        "/api/v1/requests", json={"type": "access", "email": "wang@example.org"}
    )
    unknown = shop_client.post(
        "/api/v1/requests", json={"type": "access", "email": "nobody@example.org"}
    )
    assert known.status_code == unknown.status_code == 202
    assert set(known.json) == set(unknown.json)
    assert known.json["status"] == unknown.json["status"] == "pending_verification"
    _rt(shop_app).notifier.wait()
    smtp.wait_for(1)
    time.sleep(0.2)
    assert len(smtp.messages) == 1, "only the customer got a code"
    with shop_app.app_context():
        request = _rt(shop_app).db.session.get(DataRequest, unknown.json["id"])
        assert request.identity_status == "unmatched" and request.subject_id is None


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_deletion_and_closure_reach_the_shop(shop_app, shop_client, smtp, shop_db, runner_for):
    from sqlalchemy import create_engine

    rid, token = _submit_and_verify(
        shop_app,
        shop_client,
        smtp,
        email="li.na@example.com",
        type="deletion",
        categories=["addresses"],
    )
    result = runner_for(shop_app).invoke(
        args=["requests", "approve", rid, "--by", approver(shop_app)]
    )
    assert result.exit_code == 0, result.output
    assert run_erasures(_rt(shop_app).erasure_deps()) == 1
    engine = create_engine(shop_db.url)
    with engine.connect() as conn:
        left = conn.execute(select(members.c.member_no)).all()
        kept = conn.execute(select(member_addresses.c.member_no)).scalars().all()
    assert kept == ["M-003"], "both of Li Na's accounts lost their addresses, nobody else's"
    assert len(left) == 3, "deleting addresses leaves the accounts"
    status = shop_client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json
    assert status["status"] == "completed"
    assert status["receipt"]["categories"]["addresses"]["deleted"] == 2
    assert [(s["action"], s["source"], s["status"]) for s in status["receipt"]["sources"]] == [
        ("deletion", "crm", "done"),
        ("lookup", "crm", "done"),
    ]

    closure, token = _submit_and_verify(
        shop_app, shop_client, smtp, phone="13811112222", type="account_closure"
    )
    with shop_app.app_context():
        session = _rt(shop_app).db.session
        assert session.get(DataRequest, closure).status == "cooling_off"
        end_cooling_off(_rt(shop_app).erasure_deps(), session, now=utcnow().replace(year=2099))
    assert run_erasures(_rt(shop_app).erasure_deps()) == 1
    with engine.connect() as conn:
        states = dict(conn.execute(select(members.c.member_no, members.c.state)).all())
    engine.dispose()
    assert states == {"M-001": "open", "M-002": "open", "M-003": "closed"}
    receipt = shop_client.get(f"/api/v1/requests/{closure}", headers=bearer(token)).json
    assert receipt["status"] == "completed" and receipt["receipt"]["account_closed"] is True


def test_a_source_that_is_down_is_retried_and_visible(make_app, tmp_path, monkeypatch, smtp):
    """The shop's database cannot be reached: no code, a visible retrying lookup; then it is."""
    from sqlalchemy import create_engine

    missing = tmp_path / "not-yet" / "shop.db"
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{missing}")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    client = app.test_client()
    rt = _rt(app)
    started = time.perf_counter()
    answer = client.post("/api/v1/requests", json={"type": "access", "email": "wang@example.org"})
    assert answer.status_code == 202 and time.perf_counter() - started < 2
    rid = answer.json["id"]
    rt.notifier.wait(retrying=False)  # the source is down on purpose
    with app.app_context():
        session = rt.db.session
        request = session.get(DataRequest, rid)
        assert request.identity_status == "retrying"
        assert request.identity_errors == {"crm": "OperationalError"}
        assert request.identity_attempts == 1 and request.identity_next_at > utcnow()
        assert [(s.source, s.action, s.status) for s in steps.for_request(session, rid)] == [
            ("crm", "lookup", "failed")
        ]
        session.commit()
    assert smtp.messages == []
    assert run_due(rt) == 0, "not retried before its backoff"

    missing.parent.mkdir()
    engine = create_engine(f"sqlite:///{missing}")
    fill(engine)
    engine.dispose()
    with app.app_context():
        rt.db.session.execute(
            update(DataRequest).where(DataRequest.id == rid).values(identity_next_at=utcnow())
        )
        rt.db.session.commit()
    assert run_due(rt) == 1, "the scheduled retry finds the customer once the shop is back"
    rt.notifier.wait()
    smtp.wait_for(1)
    with app.app_context():
        request = rt.db.session.get(DataRequest, rid)
        assert request.identity_status == "matched" and request.accounts == [
            {"source": "crm", "key": "M-003"}
        ]


def test_the_notifier_waits_for_a_retrying_lookup_until_its_code_is_sent(
    make_app, tmp_path, monkeypatch, smtp
):
    """A lookup whose source failed once (as under load) is waited for until its queued retry
    sends the code: a test reads the code right after ``wait()``, with no polling of its own."""
    from sqlalchemy import create_engine

    from privacy_service.requests import resolve

    monkeypatch.setattr(resolve, "RETRY_BASE_SECONDS", 1)  # the queue retries after 1 s
    missing = tmp_path / "not-yet" / "shop.db"
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{missing}")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    rt = _rt(app)
    rid = (
        app.test_client()
        .post("/api/v1/requests", json={"type": "access", "email": "wang@example.org"})
        .json["id"]
    )
    rt.notifier.wait(retrying=False)
    with app.app_context():
        assert rt.db.session.get(DataRequest, rid).identity_status == "retrying"
        rt.db.session.commit()
    missing.parent.mkdir()
    engine = create_engine(f"sqlite:///{missing}")
    fill(engine)
    engine.dispose()
    rt.notifier.wait()
    assert smtp.codes(rid), "the code was sent before wait() returned"
    with app.app_context():
        assert rt.db.session.get(DataRequest, rid).identity_status == "matched"
        rt.db.session.commit()


def test_staff_page_shows_the_failing_source(make_app, tmp_path, monkeypatch):
    from test_dashboard import login

    from privacy_service.team.accounts import create

    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{tmp_path / 'absent' / 'x.db'}")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    client = app.test_client()
    rid = client.post("/api/v1/requests", json={"type": "access", "email": "a@example.org"}).json[
        "id"
    ]
    _rt(app).notifier.wait(retrying=False)
    with app.app_context():
        create(
            _rt(app).db.session,
            email="admin@shop.example",
            role="admin",
            password="correct horse battery",
        )
        _rt(app).db.session.commit()
    assert login(client, "admin@shop.example").status_code == 302
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "crm" in page and "OperationalError" in page and "retrying" in page


@pytest.mark.parametrize("shop_db", ["sqlite", "mariadb"], indirect=True)
def test_datamap_check_names_file_line_source_and_contact_column(shop_app, shop_db, runner_for):
    from sqlalchemy import create_engine, text

    ok = runner_for(shop_app).invoke(args=["datamap", "check"])
    assert ok.exit_code == 0, ok.output
    assert "source crm: reachable through PRIVACY_SOURCE_CRM_URL; contacts email: mail" in ok.output
    assert "erasure.yaml not in" in ok.output, "says which policy files fell back to defaults"
    engine = create_engine(shop_db.url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE members DROP COLUMN mobile"))
    engine.dispose()
    broken = runner_for(shop_app).invoke(args=["datamap", "check"])
    assert broken.exit_code == 1
    assert (
        "datamap.yaml:3: source 'crm': members.mobile: no such column (phone contact column)"
        in (broken.output)
    )


def test_datamap_check_says_when_a_source_cannot_be_reached(make_app, tmp_path, monkeypatch):
    from privacy_service.cli import main

    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", "mysql+pymysql://root@127.0.0.1:1/nothing")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    result = app.test_cli_runner().invoke(main, ["datamap", "check"])
    assert result.exit_code == 1
    assert "datamap.yaml:3: source 'crm': cannot connect through PRIVACY_SOURCE_CRM_URL" in (
        result.output
    )
    assert "127.0.0.1:1" not in result.output, "never the URL (it may carry credentials)"


def test_a_source_without_its_url_stops_start_up_clearly(make_app, tmp_path, monkeypatch):
    from privacy_service.config import ConfigError

    monkeypatch.delenv("PRIVACY_SOURCE_CRM_URL", raising=False)
    with pytest.raises(ConfigError) as exc:
        make_app(policies_dir=write_policies(tmp_path / "operator"))
    message = str(exc.value)
    assert "datamap.yaml:3: source 'crm'" in message
    assert "PRIVACY_SOURCE_CRM_URL is not set" in message


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_demo_seed_skips_an_operators_shop(shop_app, shop_db, runner_for):
    from sqlalchemy import create_engine, func

    result = runner_for(shop_app).invoke(args=["demo", "seed", "--customers", "2"])
    assert result.exit_code == 0, "make run goes on to serve the operator's shop"
    assert "demo seed skipped" in result.output and "not the demo's" in result.output
    engine = create_engine(shop_db.url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(members)).scalar() == 3
        assert "customers" not in __import__("sqlalchemy").inspect(conn).get_table_names()
    engine.dispose()


def test_demo_seed_refuses_production(make_app, runner_for):
    app = make_app(env="production")
    result = runner_for(app).invoke(args=["demo", "seed", "--customers", "2"])
    assert result.exit_code == 1 and "refused" in result.output
    from privacy_service.demo import shop_is_seeded

    assert not shop_is_seeded(app.extensions["privacy"].sources["shop"])


def test_demo_seed_never_writes_into_a_database_that_is_not_the_demos(
    make_app, runner_for, tmp_path
):
    """Even with the demo's data map, a shop database holding other tables is left alone."""
    from sqlalchemy import create_engine

    from privacy_service.demo import shop_schema

    url = f"sqlite:///{tmp_path / 'real-shop.db'}"
    app = make_app(shop_database_url=url)
    engine = create_engine(url)
    shop_schema.metadata.drop_all(engine)  # the test fixture made the demo's empty tables
    fill(engine)
    engine.dispose()
    result = runner_for(app).invoke(args=["demo", "seed", "--customers", "2"])
    assert result.exit_code == 0 and "already holds tables that are not the demo's" in result.output


def test_operator_policies_need_only_a_datamap(tmp_path):
    from privacy_service.policies import load_policies

    policies = load_policies(write_policies(tmp_path / "operator"))
    assert set(policies.fallbacks) == {
        "categories.yaml",
        "request_policies.yaml",
        "field_labels.yaml",
        "calendar",
        "erasure.yaml",
        "retention.yaml",
    }
    assert policies.retention.rules == () and policies.erasure.blockers == ()
    assert policies.calendar.is_known(2025), "the shipped calendar sources"


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_identity_documents_find_an_operators_customer_by_their_own_id(
    make_app, shop_db, tmp_path, monkeypatch, smtp
):
    """The customs service names the customer by member_no once they are known to the service."""
    from sqlalchemy import create_engine
    from test_vault import id_number

    engine = create_engine(shop_db.url)
    fill(engine)
    engine.dispose()
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", shop_db.url)
    token = "customs-service-token-0123456789abcdef"
    app = make_app(
        policies_dir=write_policies(tmp_path / "operator"), service_tokens=f"customs:{token}"
    )
    client = app.test_client()
    rid, _ = _submit_and_verify(app, client, smtp, email="wang@example.org")
    stored = client.post(
        "/api/v1/identity-documents",
        headers={"Authorization": f"Bearer {token}"},
        json={"customer_ref": "M-003", "id_number": id_number(3), "holder_name": "王芳"},
    )
    assert stored.status_code == 201, stored.json
    with app.app_context():
        assert stored.json["subject_id"] == _rt(app).db.session.get(DataRequest, rid).subject_id


def test_a_minimal_data_map_loads(tmp_path):
    """Only what the contract names, categories and columns: titles and types are optional."""
    from privacy_service.policies import load_policies

    minimal = (
        "sources:\n"
        "  shop:\n"
        "    url_env: PRIVACY_SOURCE_SHOP_URL\n"
        "    identity: {table: customers, column: id, contacts: {email: email, phone: phone}}\n"
        "    tables:\n"
        "      customers:\n"
        "        fields:\n"
        "          email: {category: account, type: email}\n"
        "          nickname: {category: account}\n"
    )
    policies = load_policies(write_policies(tmp_path / "minimal", minimal))
    shop = policies.datamap.sources["shop"]
    assert shop.title == {"zh-CN": "shop", "en": "shop"}
    assert [f.type for f in shop.tables["customers"].fields] == ["email", "text"]


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_a_contact_still_in_the_shop_after_closure_starts_afresh(
    make_app, shop_db, tmp_path, monkeypatch, smtp
):
    """The shop kept the phone of a closed account: a new request gets a new subject and key."""
    from shopfix import DATAMAP
    from sqlalchemy import create_engine

    engine = create_engine(shop_db.url)
    fill(engine)
    engine.dispose()
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", shop_db.url)
    kept_phone = DATAMAP.replace(
        "          mobile: {category: account, type: phone, sensitive: true}\n", ""
    )
    app = make_app(policies_dir=write_policies(tmp_path / "operator", kept_phone))
    client = app.test_client()
    rt = _rt(app)
    closure, _ = _submit_and_verify(app, client, smtp, phone="13811112222", type="account_closure")
    with app.app_context():
        end_cooling_off(rt.erasure_deps(), rt.db.session, now=utcnow().replace(year=2099))
    assert run_erasures(rt.erasure_deps()) == 1
    again, _token = _submit_and_verify(app, client, smtp, phone="13811112222")
    with app.app_context():
        session = rt.db.session
        old = session.get(DataRequest, closure).subject_id
        new = session.get(DataRequest, again).subject_id
        assert new != old, "the closed account's key is gone; the new request has its own"
        link = session.scalars(select(SubjectAccount).where(SubjectAccount.account_key == "M-003"))
        assert link.one().subject_id == new


def _advice(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ADVICE: ")]


def test_datamap_check_advises_the_index_each_contact_lookup_needs(
    shop_app, shop_db, make_app, smtp, runner_for, tmp_path
):
    """No index serves the contact columns: check says so and gives the statement; once it is
    run (on MariaDB: a generated column declared as identity.lookup), the advice is gone and a
    customer is still found."""
    from sqlalchemy import create_engine, text

    first = runner_for(shop_app).invoke(args=["datamap", "check"])
    assert first.exit_code == 0, "advice, not a failure"
    advice = _advice(first.output)
    assert len(advice) == 2, first.output
    assert "members.mail (email contact column): no index" in advice[0]
    assert "members.mobile (phone contact column): no index" in advice[1]
    engine = create_engine(shop_db.url)
    with engine.begin() as conn:
        for line in advice:
            statement = line.split("reads the whole table: ", 1)[1].partition("; then")[0]
            conn.execute(text(statement))
    engine.dispose()
    app = shop_app
    if shop_db.backend == "mariadb":
        assert "PERSISTENT" in advice[0] and "identity.lookup: {email: mail_lookup}" in advice[0]
        lookup = "lookup: {email: mail_lookup, phone: mobile_lookup},\n                   "
        datamap = DATAMAP.replace("close: {column", lookup + "close: {column")
        app = make_app(policies_dir=write_policies(tmp_path / "with-lookup", datamap))
    again = runner_for(app).invoke(args=["datamap", "check"])
    assert again.exit_code == 0, again.output
    assert _advice(again.output) == [], again.output
    client = app.test_client()
    rid, _token = _submit_and_verify(app, client, smtp, email=" LI.NA@example.com")
    with app.app_context():
        accounts = _rt(app).db.session.get(DataRequest, rid).accounts
    assert sorted(a["key"] for a in accounts if a["source"] == "crm") == ["M-001", "M-002"]
    rid, _token = _submit_and_verify(app, client, smtp, phone="139 1234 5678")
    with app.app_context():
        accounts = _rt(app).db.session.get(DataRequest, rid).accounts
    assert [a["key"] for a in accounts if a["source"] == "crm"] == ["M-001"]


def test_a_source_that_does_not_answer_times_out_and_is_retried(make_app, tmp_path, monkeypatch):
    """A PostgreSQL server that accepts the connection and never speaks (a hung database, a
    proxy with nothing behind it): the lookup fails in the source's connect timeout, recorded
    for a retry, instead of hanging (libpq has no timeout of its own). PyMySQL bounds the TCP
    connect by itself (10 s) but not the server's greeting, which this does not change."""
    import socket

    from privacy_service.datamap import sources
    from privacy_service.requests.resolve import look_up

    monkeypatch.setattr(sources, "CONNECT_TIMEOUT_SECONDS", 2)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nothing ever answers
    try:
        port = silent.getsockname()[1]
        monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"postgresql+psycopg://u@127.0.0.1:{port}/x")
        app = make_app(policies_dir=write_policies(tmp_path / "operator"))
        rt = _rt(app)
        with app.app_context():
            found = look_up(
                rt.db.session, rt.collector(), rt.policies.datamap, "email", "li.na@example.com"
            )
        assert found.failures == {"crm": "OperationalError"}
        assert found.accounts == []
    finally:
        silent.close()
