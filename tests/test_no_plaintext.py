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


def _plant(client, customer, code_from, caplog):
    customer(email=CANARY_EMAIL, phone=CANARY_PHONE, name="金丝雀")
    bodies = []
    a = client.post(
        "/api/v1/requests",
        json={
            "type": "correction",
            "email": CANARY_EMAIL,
            "note": CANARY_NOTE,
            "corrections": [{"category": "addresses", "field": "district", "value": CANARY_VALUE}],
        },
    )
    bodies.append(a.get_data(as_text=True))
    b = client.post("/api/v1/requests", json={"type": "access", "phone": CANARY_PHONE})
    bodies.append(b.get_data(as_text=True))
    # Errors that echo nothing back: bad values in otherwise structured bodies.
    for body in (
        {"type": "access", "email": CANARY_EMAIL, "phone": CANARY_PHONE},
        {"type": "nope", "email": CANARY_EMAIL, "note": CANARY_NOTE},
        {"type": "access", "email": CANARY_EMAIL + "\x00"},
        {"type": "access", "phone": CANARY_PHONE + "9"},
        {"type": "access", "email": CANARY_EMAIL, "categories": [CANARY_NOTE]},
    ):
        answer = client.post("/api/v1/requests", json=body)
        assert answer.status_code == 422
        bodies.append(answer.get_data(as_text=True))
    code = code_from(1)
    bodies.append(
        client.post(f"/api/v1/requests/{a.json['id']}/verify", json={"code": code}).get_data(
            as_text=True
        )
    )
    return bodies


def _assert_clean(blob: bytes | str, where: str):
    if isinstance(blob, bytes):
        blob = blob.decode("utf-8", "replace") + blob.decode("latin-1")
    for canary in (
        CANARY_EMAIL,
        CANARY_PHONE,
        CANARY_NOTE,
        CANARY_VALUE,
        "canary.zx81q",
        "12345678",
        "CANARYNOTE7731",
        "CANARYVALUE5519",
        "金丝雀",
    ):
        assert canary not in blob, f"{canary!r} found in {where}"


def test_no_plaintext_anywhere(
    client, customer, code_from, caplog, database_url, backend, rt, app, capfd
):
    caplog.set_level(logging.DEBUG)
    bodies = _plant(client, customer, code_from, caplog)
    for body in bodies:
        _assert_clean(body, "a response body")
    _assert_clean(caplog.text, "the logs")
    out, err = capfd.readouterr()
    _assert_clean(out + err, "stdout/stderr")

    rt.db.dispose()
    if backend == "sqlite":
        path = make_url(database_url).database
        for suffix in ("", "-wal", "-shm"):
            try:
                with open(path + suffix, "rb") as fh:
                    _assert_clean(fh.read(), f"the SQLite file {suffix or 'main'}")
            except FileNotFoundError:
                pass
    else:
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
