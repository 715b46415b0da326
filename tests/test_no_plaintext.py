"""Canary values planted through the API never appear in plaintext: not in the database (raw
SQLite file or pg_dump), not in logs, not in error bodies."""

import logging
import shutil
import subprocess

import pytest
from sqlalchemy.engine import make_url

CANARY_EMAIL = "canary.zx81q@example.com"
CANARY_PHONE = "13912345678"
CANARY_NOTE = "金丝雀备注CANARYNOTE7731"
CANARY_VALUE = "CANARYVALUE5519长宁区"
CANARY_ID = "510107198804127717"  # a valid GB 11643 number
TOKEN = "customs-canary-token-0123456789abcdef"
CANARIES = (
    CANARY_EMAIL,
    CANARY_PHONE,
    CANARY_NOTE,
    CANARY_VALUE,
    CANARY_ID,
    "canary.zx81q",
    "12345678",
    "CANARYNOTE7731",
    "CANARYVALUE5519",
    "金丝雀",
    CANARY_ID[:12],
    CANARY_ID[-10:],
)


def _plant(app, code_from):
    """Send every canary through the API, the right way and the wrong ways; return the bodies."""
    client = app.test_client()
    with app.app_context():
        from privacy_service.subjects.directory import register

        rt = app.extensions["privacy"]
        register(
            rt.db.session,
            email=CANARY_EMAIL,
            phone=CANARY_PHONE,
            name="金丝雀",
            external_ref="canary-1",
        )
        rt.db.session.commit()
    correction = [
        {"category": "addresses", "field": "district", "value": CANARY_VALUE, "record_id": 1}
    ]
    answers = [
        client.post(
            "/api/v1/requests",
            json={
                "type": "correction",
                "email": CANARY_EMAIL,
                "note": CANARY_NOTE,
                "corrections": correction,
            },
        ),
        client.post("/api/v1/requests", json={"type": "access", "phone": CANARY_PHONE}),
    ]
    rid = answers[0].json["id"]
    for body in (  # errors must not echo values back
        {"type": "access", "email": CANARY_EMAIL, "phone": CANARY_PHONE},
        {"type": "nope", "email": CANARY_EMAIL, "note": CANARY_NOTE},
        {"type": "access", "email": CANARY_EMAIL + "\x00"},
        {"type": "access", "phone": CANARY_PHONE + "9"},
        {"type": "access", "email": CANARY_EMAIL, "categories": [CANARY_NOTE]},
    ):
        answers.append(client.post("/api/v1/requests", json=body))
        assert answers[-1].status_code == 422
    answers.append(client.post(f"/api/v1/requests/{rid}/verify", json={"code": code_from(1)}))

    service = {"Authorization": f"Bearer {TOKEN}"}
    document = {"customer_ref": "canary-1", "id_number": CANARY_ID, "holder_name": "金丝雀"}
    answers.append(client.post("/api/v1/identity-documents", headers=service, json=document))
    assert answers[-1].status_code == 201
    answers.append(
        client.post(
            "/api/v1/identity-documents/search", headers=service, json={"id_number": CANARY_ID}
        )
    )
    assert len(answers[-1].json["matches"]) == 1
    for bad in (CANARY_ID[:-1] + "0", CANARY_ID + "1", CANARY_ID[:10]):
        answers.append(
            client.post(
                "/api/v1/identity-documents", headers=service, json={**document, "id_number": bad}
            )
        )
        assert answers[-1].status_code == 422
    return [a.get_data(as_text=True) for a in answers]


def _assert_clean(blob: bytes | str, where: str):
    if isinstance(blob, bytes):
        blob = blob.decode("utf-8", "replace") + blob.decode("latin-1")
    for canary in CANARIES:
        assert canary not in blob, f"{canary!r} found in {where}"


def test_no_plaintext_anywhere(make_app, code_from, caplog, database_url, backend, capfd):
    caplog.set_level(logging.DEBUG)
    app = make_app(service_tokens=f"customs:{TOKEN}")
    for body in _plant(app, code_from):
        _assert_clean(body, "a response body")
    _assert_clean(caplog.text, "the logs")
    out, err = capfd.readouterr()
    _assert_clean(out + err, "stdout/stderr")

    app.extensions["privacy"].db.dispose()
    if backend == "sqlite":
        path = make_url(database_url).database
        for suffix in ("", "-wal", "-shm"):
            try:
                with open(path + suffix, "rb") as fh:
                    _assert_clean(fh.read(), f"the SQLite file {suffix or 'main'}")
            except FileNotFoundError:
                pass
        return
    dump = shutil.which("pg_dump")
    if dump is None:
        pytest.fail("pg_dump is needed: apt-get install postgresql-client")
    url = make_url(database_url)
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            dump,
            "--data-only",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            url.database,
        ],
        capture_output=True,
        check=True,
    )
    assert len(result.stdout) > 1000
    _assert_clean(result.stdout, "pg_dump")
