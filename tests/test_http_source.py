"""HTTP sources: a real HTTP server on loopback plays the shop's marketing-email provider.

Subscribers (found by e-mail), their send logs (paginated), deletes; a bearer token; a provider
that fails, then recovers; an answer that is not JSON. Access, deletion and the lookup of the
contact all reach it, and its part shows as its own steps.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import urllib.parse
import zipfile
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import approver, bearer
from shopfix import DATAMAP, MAILER, fill
from sqlalchemy import create_engine, update

from exports.worker import run_pending as build_exports
from privacy_service.db import utcnow
from privacy_service.requests.models import DataRequest
from privacy_service.requests.resolve import run_due
from retention.processor import run_pending as run_erasures

TOKEN = "mailer-token-0123456789"


class Provider:
    """The provider's state, and switches to make it fail."""

    def __init__(self):
        self.subscribers = {
            "s1": {
                "id": "s1",
                "email": "li.na@example.com",
                "subscribed_at": "2024-01-02T03:04:05Z",
            },
            "s2": {
                "id": "s2",
                "email": "wang@example.org",
                "subscribed_at": "2024-02-02T03:04:05Z",
            },
        }
        self.sends = {
            f"m{i}": {
                "id": f"m{i}",
                "subscriber": "s1" if i < 5 else "s2",
                "campaign": f"c{i}",
                "sent_at": "2025-01-01T00:00:00Z",
            }
            for i in range(7)
        }
        # A payment provider's records, kept by the shop's member number (key_from: crm).
        self.payments = {
            f"p{i}": {"id": f"p{i}", "member": m, "card_last4": f"00{i}{i}", "paid_at": "2025"}
            for i, m in enumerate(["M-001", "M-002", "M-003"])
        }
        self.patches: list[tuple[str, dict]] = []  # (subscriber, body) of every PATCH applied
        # The process to kill -9 at the next PATCH: a function giving its id (called then).
        self.kill_on_patch: Callable[[], int] | None = None
        self.fail_next = 0  # answer 503 to this many calls
        self.garbage = False
        self.calls = 0


def _handler(state: Provider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, doc=None, raw=None):
            body = (
                raw if raw is not None else (json.dumps(doc).encode() if doc is not None else b"")
            )
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _guard(self) -> bool:
            state.calls += 1
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "unauthorised"})
                return False
            if state.fail_next:
                state.fail_next -= 1
                self._send(503, {"error": "busy"})
                return False
            if state.garbage:
                self._send(200, raw=b"<html>maintenance</html>")
                return False
            return True

        def do_GET(self):
            if not self._guard():
                return
            url = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(url.query)
            parts = url.path.strip("/").split("/")
            if parts == ["subscribers"]:
                email = query.get("email", [""])[0]
                found = [s for s in state.subscribers.values() if s["email"] == email]
                return self._send(200, {"data": found})
            if len(parts) == 2 and parts[0] == "subscribers":
                found = state.subscribers.get(parts[1])
                return self._send(200, found) if found else self._send(404, {"error": "none"})
            if len(parts) == 3 and parts[0] == "members" and parts[2] == "payments":
                mine = [p for p in state.payments.values() if p["member"] == parts[1]]
                return self._send(200, {"data": mine})
            if len(parts) == 3 and parts[2] == "sends":
                mine = sorted(k for k, v in state.sends.items() if v["subscriber"] == parts[1])
                page = int(query.get("page", ["0"])[0])
                items = [state.sends[k] for k in mine[page * 2 : page * 2 + 2]]
                more = (page + 1) * 2 < len(mine)
                following = f"/subscribers/{parts[1]}/sends?page={page + 1}" if more else None
                return self._send(200, {"page": {"items": items, "next": following}})
            self._send(404, {"error": "no such path"})

        def do_PATCH(self):
            if not self._guard():
                return
            parts = self.path.strip("/").split("/")
            record = state.subscribers.get(parts[1]) if parts[0] == "subscribers" else None
            if record is None:
                return self._send(404, {"error": "none"})
            length = int(self.headers.get("Content-Length") or 0)
            change = json.loads(self.rfile.read(length))
            if state.kill_on_patch:  # the caller dies mid-call: nothing applied, no answer
                os.kill(state.kill_on_patch(), signal.SIGKILL)
                state.kill_on_patch = None
                return
            state.patches.append((parts[1], change))
            record.update(change)
            self._send(200, record)

        def do_DELETE(self):
            if not self._guard():
                return
            parts = self.path.strip("/").split("/")
            table = {"subscribers": state.subscribers, "payments": state.payments}.get(
                parts[0], state.sends
            )
            if table.pop(parts[1], None) is None:
                return self._send(404, {"error": "gone"})
            if parts[0] == "subscribers":  # the provider drops a subscriber's logs with them
                for key in [k for k, v in state.sends.items() if v["subscriber"] == parts[1]]:
                    state.sends.pop(key)
            self._send(204)

    return Handler


@pytest.fixture
def provider():
    state = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def operator_app(make_app, provider, tmp_path, monkeypatch, sources: str):
    """The service on the operator's shop (SQLite) plus ``sources`` served by ``provider``."""
    engine = create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    fill(engine)
    engine.dispose()
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", f"sqlite:///{tmp_path / 'crm.db'}")
    monkeypatch.setenv("PRIVACY_SOURCE_MAILER_URL", provider.url)
    monkeypatch.setenv("PRIVACY_SOURCE_MAILER_TOKEN", TOKEN)
    folder = tmp_path / "operator"
    folder.mkdir()
    (folder / "datamap.yaml").write_text(DATAMAP + sources, encoding="utf-8")
    return make_app(policies_dir=str(folder))


@pytest.fixture
def app_with_mailer(make_app, provider, tmp_path, monkeypatch):
    return operator_app(make_app, provider, tmp_path, monkeypatch, MAILER)


def _verify(app, smtp, **body):
    client = app.test_client()
    rid = client.post("/api/v1/requests", json=body).json["id"]
    app.extensions["privacy"].notifier.wait()
    code = smtp.code_for(rid)
    answer = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
    assert answer.status_code == 200, answer.json
    return client, rid, answer.json["access_token"]


def test_access_reads_the_provider_page_by_page(app_with_mailer, provider, smtp):
    app = app_with_mailer
    client, rid, token = _verify(app, smtp, type="access", email="li.na@example.com")
    assert build_exports(app.extensions["privacy"].export_deps()) == 1
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    manifest = json.loads(archive.read("manifest.json"))
    assert {"source": "mailer", "key": "s1"} in manifest["accounts"]
    tables = manifest["categories"]["preferences"]["tables"]
    assert tables["sends"] == 5, "all three pages of send logs"
    assert tables["subscribers"] == 1
    records = json.loads(archive.read("preferences/preferences.json"))["records"]
    assert "c6" not in json.dumps(records), "another subscriber's logs stay out"
    steps = {
        (s["source"], s["action"]): s
        for s in client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["sources"]
    }
    assert steps[("mailer", "lookup")]["rows"] == 1
    assert (
        steps[("mailer", "access")]["status"] == "done" and steps[("mailer", "access")]["rows"] == 6
    )


def test_deletion_erases_at_the_provider(app_with_mailer, provider, smtp, runner_for):
    app = app_with_mailer
    client, rid, token = _verify(
        app, smtp, type="deletion", email="li.na@example.com", categories=["preferences"]
    )
    assert (
        runner_for(app).invoke(args=["requests", "approve", rid, "--by", approver(app)]).exit_code
        == 0
    )
    assert run_erasures(app.extensions["privacy"].erasure_deps()) == 1
    assert "s1" not in provider.subscribers and "s2" in provider.subscribers
    assert sorted(provider.sends) == ["m5", "m6"], "only the other subscriber's logs remain"
    receipt = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["receipt"]
    assert receipt["categories"]["preferences"]["deleted"] == 6
    assert ("mailer", "deletion", "done") in {
        (s["source"], s["action"], s["status"]) for s in receipt["sources"]
    }


def test_a_failing_provider_is_retried_then_recovers(app_with_mailer, provider, smtp):
    app = app_with_mailer
    rt = app.extensions["privacy"]
    client = app.test_client()
    provider.fail_next = 100
    rid = client.post(
        "/api/v1/requests", json={"type": "access", "email": "wang@example.org"}
    ).json["id"]
    rt.notifier.wait(retrying=False)  # the provider fails on purpose
    with app.app_context():
        request = rt.db.session.get(DataRequest, rid)
        assert request.identity_status == "retrying"
        assert request.identity_errors == {"mailer": "HttpSourceError"}
        rt.db.session.commit()
    assert smtp.messages == [], "no code while a source cannot answer"
    provider.fail_next = 1  # one more failure: the bounded retry inside the call absorbs it
    with app.app_context():
        rt.db.session.execute(
            update(DataRequest).where(DataRequest.id == rid).values(identity_next_at=utcnow())
        )
        rt.db.session.commit()
    assert run_due(rt) == 1
    rt.notifier.wait()
    smtp.wait_for(1)
    with app.app_context():
        accounts = rt.db.session.get(DataRequest, rid).accounts
    assert {"source": "mailer", "key": "s2"} in accounts and {"source": "crm", "key": "M-003"} in (
        accounts
    )


def test_garbage_answers_and_bad_credentials_are_clear_errors(
    app_with_mailer, provider, runner_for, monkeypatch
):
    result = runner_for(app_with_mailer).invoke(args=["datamap", "check"])
    assert result.exit_code == 0, result.output
    provider.garbage = True
    result = runner_for(app_with_mailer).invoke(args=["datamap", "check"])
    assert result.exit_code == 1
    assert "source 'mailer': cannot use PRIVACY_SOURCE_MAILER_URL: an answer that is not JSON" in (
        result.output
    )
    assert provider.url not in result.output
    provider.garbage = False
    rt = app_with_mailer.extensions["privacy"]
    rt.sources["mailer"].token = "wrong"
    result = runner_for(app_with_mailer).invoke(args=["datamap", "check"])
    assert "source 'mailer': cannot use PRIVACY_SOURCE_MAILER_URL: HTTP 401" in result.output


def test_readyz_asks_the_provider(app_with_mailer, provider):
    client = app_with_mailer.test_client()
    assert client.get("/readyz").status_code == 200
    provider.fail_next = 100
    answer = client.get("/readyz")
    assert answer.status_code == 503 and "source:mailer" in answer.get_data(as_text=True)


PAYER = """
  payer:
    kind: http
    title: {zh-CN: 支付服务, en: Payment provider}
    url_env: PRIVACY_SOURCE_MAILER_URL
    token_env: PRIVACY_SOURCE_MAILER_TOKEN
    identity: {table: payments, column: id, key_from: crm}
    tables:
      payments:
        find: {path: "/members/{key}/payments", records: data}
        erase: {method: DELETE, path: "/payments/{id}"}
        fields:
          card_last4: {category: payments, type: text}
          paid_at: {category: payments, type: text}
"""


@pytest.fixture
def app_with_payer(make_app, provider, tmp_path, monkeypatch):
    return operator_app(make_app, provider, tmp_path, monkeypatch, PAYER)


def test_a_provider_keyed_by_the_shops_customer_id(app_with_payer, provider, smtp, runner_for):
    """key_from: the payment provider knows members by their number in the shop; it is not asked
    at the contact lookup, and access and deletion reach each of the customer's accounts."""
    app = app_with_payer
    assert runner_for(app).invoke(args=["datamap", "check"]).exit_code == 0
    client, rid, token = _verify(
        app, smtp, type="deletion", email="li.na@example.com", categories=["payments"]
    )
    steps = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["sources"]
    assert ("payer", "lookup") not in {(s["source"], s["action"]) for s in steps}
    assert (
        runner_for(app).invoke(args=["requests", "approve", rid, "--by", approver(app)]).exit_code
        == 0
    )
    assert run_erasures(app.extensions["privacy"].erasure_deps()) == 1
    assert sorted(provider.payments) == ["p2"], "only M-003's payment (another person) remains"
    receipt = client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).json["receipt"]
    assert receipt["categories"]["payments"]["deleted"] == 2
    _c, rid, token = _verify(app, smtp, type="access", email="wang@example.org")
    assert build_exports(app.extensions["privacy"].export_deps()) == 1
    answer = client.get(f"/api/v1/requests/{rid}/export", headers=bearer(token))
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    assert "0022" in archive.read("payments/payments.json").decode()


def test_key_from_must_name_another_sql_source(make_app, tmp_path, monkeypatch, provider):
    from privacy_service.policies import PolicyError

    with pytest.raises(PolicyError) as exc:
        operator_app(make_app, provider, tmp_path, monkeypatch, PAYER.replace("crm}", "shopp}"))
    assert "sources.payer.identity.key_from: Must name another, SQL source." in str(exc.value)
