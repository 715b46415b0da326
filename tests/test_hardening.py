"""Bad input never gets a 5xx; redirects stay on the site; probes; outages; logs; file modes.

Issue 13, items 2, 7 and 12: each case here answered a 5xx or left the site before.
"""

import logging
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from staffpages import login

from privacy_service.team.accounts import create

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/",
        "/%0a/evil.example/",
        "/%5Cevil.example",
        "//evil.example",
        "https://evil.example/",
        "/%0d%0aSet-Cookie:%20x=1",
        "%2F%2Fevil.example",
    ],
)
def test_language_switch_redirects_only_to_this_site(client, target):
    answer = client.get(f"/lang/en?next={target}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    assert "Set-Cookie: x" not in str(answer.headers)


def test_language_switch_keeps_a_path_of_this_site(client):
    answer = client.get("/lang/en?next=/r/abc")
    assert answer.status_code == 302 and answer.headers["Location"] == "/r/abc"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/requests", "/api/v1/requests/00000000-0000-0000-0000-000000000000/verify"],
)
def test_deeply_nested_json_is_a_400_problem(client, path):
    body = "[" * 30000 + "]" * 30000
    answer = client.post(path, data=body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    nested = '{"a":' * 10000 + "1" + "}" * 10000
    assert client.post(path, data=nested, content_type="application/json").status_code == 400


def test_nesting_inside_strings_does_not_count(client):
    answer = client.post(
        "/api/v1/requests",
        json={"type": "access", "email": "a@example.com", "note": "[{" * 200 + '\\"' + "[" * 100},
    )
    assert answer.status_code == 202


@pytest.fixture
def agent(client, session):
    create(session, email="agent@shop.example", role="agent", password=PASSWORD)
    session.commit()
    assert login(client, "agent@shop.example").status_code == 302
    return client


@pytest.mark.parametrize(
    "query",
    [
        "due_within=99999999999999999999",
        "due_within=%C2%B2",
        "page=99999999999999999999",
        "page=9223372036854775807",
        "page=%C2%B2",
        "page=-1&due_within=-5",
    ],
)
@pytest.mark.every_backend  # out-of-range integers reach the SQL
def test_queue_survives_absurd_numbers(agent, query):
    answer = agent.get(f"/staff/requests?{query}")
    assert answer.status_code == 200
    assert "text/html" in answer.headers["Content-Type"]


@pytest.mark.every_backend  # odd digits reach the SQL
def test_portal_record_id_in_unicode_digits_is_not_a_500(client):
    page = client.get("/").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/",
        data={
            "csrf": csrf,
            "type": "correction",
            "contact": "a@example.com",
            "field": "profile:nickname",
            "value": "x",
            "record_id": "²",
        },
    )
    assert answer.status_code < 500


@pytest.mark.every_backend  # the probe's query on each database
def test_healthz_and_readyz(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_data(as_text=True)
    assert ready.json["status"] == "ready"
    assert {"database", "keyring"} <= set(ready.json["checks"])
    assert any(name.startswith("source:") for name in ready.json["checks"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readyz_names_a_source_that_is_down(make_app):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/shop?connect_timeout=2"
    app = make_app(shop_database_url=url)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    down = answer.json["errors"]
    assert any(name.startswith("source:") for name in down) and "database" not in down
    assert "127.0.0.1" not in answer.get_data(as_text=True)


def test_readyz_with_the_scheduler(make_app):
    app = make_app(scheduler_enabled=True)
    client = app.test_client()
    scheduler = app.extensions["privacy.scheduler"]
    try:
        assert client.get("/readyz").json["checks"]["scheduler"] == "ok"
    finally:
        scheduler.shutdown(wait=False)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and "scheduler" in answer.json["errors"]


@pytest.mark.every_backend  # each driver fails its own way
def test_a_database_outage_is_a_503_with_its_cause_in_the_log(make_app, tmp_path, caplog):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/x?connect_timeout=2"
    # The database is only reached by requests, so the app starts and answers each with 503.
    app = make_app(database_url=url)
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        answer = client.post("/api/v1/requests", json={"type": "access", "email": "a@example.com"})
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    record = next(r for r in caplog.records if r.getMessage() == "database unavailable")
    assert "refused" in record.cause.lower()
    assert any(":" in frame for frame in record.frames)
    assert "a@example.com" not in caplog.text
    page = client.get("/staff/login")
    assert page.status_code in (200, 503)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "database" in ready.json["errors"]


def test_unexpected_errors_log_frames_but_no_values(make_app, caplog):
    app = make_app()

    @app.get("/boom")
    def boom():
        secret = "planted-secret-13800138000"
        raise ValueError(secret)

    with caplog.at_level(logging.ERROR):
        answer = app.test_client().get("/boom")
    assert answer.status_code == 500
    record = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    assert record.error_type == "ValueError"
    assert any(frame.endswith(":boom") and "test_hardening.py" in frame for frame in record.frames)
    assert "planted-secret" not in caplog.text


def test_a_wrong_production_configuration_prints_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")} | {
        "PRIVACY_ENV": "production",
        "PRIVACY_INSTANCE_DIR": str(tmp_path),
    }
    privacy = Path(sys.executable).parent / "privacy"
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(privacy), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: cannot start:")
    assert "PRIVACY_SECRET_KEY" in done.stderr


def test_instance_files_are_private(make_app, tmp_path, submit, customer):
    app = make_app(smtp_host="")  # codes go to the outbox log
    client = app.test_client()
    customer(email="demo@example.com")
    client.post("/api/v1/requests", json={"type": "access", "email": "demo@example.com"})
    app.extensions["privacy"].notifier.wait()
    instance = Path(app.extensions["privacy"].settings.instance_dir)
    make_app(smtp_host="")  # a restart tightens whatever is there
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    files = [p for p in instance.rglob("*") if p.is_file()]
    assert any(p.name == "outbox.log" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_staff_create_with_a_taken_email_is_one_line_and_no_hash(runner):
    args = ["staff", "create", "--email", "Ann@shop.example", "--role", "agent"]
    first = runner.invoke([*args, "--password", "first password 123"])
    assert first.exit_code == 0, first.output
    again = runner.invoke([*args, "--password", "second password 456"])
    assert again.exit_code != 0
    assert isinstance(again.exception, SystemExit), again.exception
    lines = again.output.strip().splitlines()
    assert len(lines) == 1 and "already exists" in lines[0]
    assert "argon2" not in again.output.lower() and "$" not in again.output


@pytest.mark.parametrize(
    "url",
    [
        "/staff/audit?action=%00",
        "/staff/requests?type=%00",
        "/staff/requests?status=a%00b",
        "/lang/en?next=/%00",
        "/?x=1&x=%00",
    ],
)
@pytest.mark.every_backend  # PostgreSQL refuses NUL bytes
def test_nul_in_a_query_is_a_400_page(agent, url):
    answer = agent.get(url)
    assert answer.status_code == 400 and "text/html" in answer.headers["Content-Type"]


@pytest.mark.every_backend  # PostgreSQL refuses NUL bytes
def test_nul_in_a_staff_form_is_a_400_page(agent):
    page = agent.get("/staff/").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = agent.post("/staff/requests", data={"csrf": csrf, "q": "a\x00b"})
    assert answer.status_code == 400 and "text/html" in answer.headers["Content-Type"]


def test_unknown_paths_answer_browsers_with_a_page_and_programs_with_json(client):
    assert client.get("/nowhere").headers["Content-Type"] == "application/problem+json"
    browser = client.get("/nowhere", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 404 and browser.headers["Content-Type"].startswith("text/html")
    assert client.get("/r/nope").headers["Content-Type"].startswith("text/html")
    assert client.get("/r/0/0/verify").headers["Content-Type"].startswith("text/html")
    assert client.get("/staff/nowhere").headers["Content-Type"].startswith("text/html")
