"""The vault belongs to its app: two apps in one process keep their own keys, data and caches.

App A runs on the test database (SQLite or PostgreSQL), app B on a SQLite database of its own;
each has its own KEK, index key and audit key, and B is created after A (with a process-wide
vault, the last app created would have sealed and MACed everyone's data).
"""

import base64
import os

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from privacy_service import audit, migrate
from privacy_service.crypto import DecryptionError, Vault, vault_of
from privacy_service.crypto.keystore import DataKey
from privacy_service.db import Database
from privacy_service.subjects.directory import find_by_contact, register
from privacy_service.subjects.models import Subject


def _secrets() -> dict:
    def key():
        return base64.b64encode(os.urandom(32)).decode()

    return {"keys": f"1:{key()}", "index_key": key(), "audit_key": key()}


@pytest.fixture
def two_apps(make_app, tmp_path):
    """(A's runtime, B's runtime), B created second, with other keys and another database."""
    a = make_app(**_secrets())
    path = tmp_path / "b.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    b = make_app(
        database_url=f"sqlite:///{path}", instance_dir=str(tmp_path / "instance-b"), **_secrets()
    )
    return a.extensions["privacy"], b.extensions["privacy"]


def _register(rt, email: str) -> Subject:
    with rt.db.new_session() as session:
        subject = register(session, email=email, name="甲乙")
        audit.record(session, "test.sealed", actor="test", subject_id=subject.id)
        session.commit()
        return subject


def test_each_app_seals_and_opens_with_its_own_keys(two_apps):
    rt_a, rt_b = two_apps
    assert rt_a.vault.keyring.keks != rt_b.vault.keyring.keks
    # A first, though B was created last; then B; then A again.
    written = {"a": [], "b": []}
    for name, email in (("a", "one@a.example"), ("b", "one@b.example"), ("a", "two@a.example")):
        written[name].append((_register(two_apps[name == "b"], email).id, email))
    for rt, subjects in ((rt_a, written["a"]), (rt_b, written["b"])):
        with rt.db.new_session() as session:
            assert vault_of(session) is rt.vault
            assert [session.get(Subject, i).email for i, _ in subjects] == [e for _, e in subjects]
        # A process started with this app's keys alone (nothing cached, versions registered
        # by the app itself) reads what the app wrote: sealed, indexed and MACed with them.
        alone = Database(rt.db.url, vault=Vault(rt.vault.keyring))
        try:
            with alone.new_session() as session:
                for subject_id, email in subjects:
                    assert session.get(Subject, subject_id).email == email
                    assert find_by_contact(session, "email", email).id == subject_id
                assert audit.verify_chain(session).ok
        finally:
            alone.dispose()


def test_keys_minted_in_a_commit_reach_their_own_apps_cache(two_apps):
    rt_a, rt_b = two_apps
    a = _register(rt_a, "cached@a.example")
    envelope = bytes(a.email_enc)
    # No session: only a cached key opens it. The commit put it in A's cache, not B's.
    assert rt_a.vault.open(None, envelope, "subjects", "email_enc", a.id) == "cached@a.example"
    with pytest.raises(DecryptionError, match="not cached"):
        rt_b.vault.open(None, envelope, "subjects", "email_enc", a.id)


def test_one_apps_session_cannot_open_the_others_envelope(two_apps):
    rt_a, rt_b = two_apps
    a = _register(rt_a, "secret.person@a.example")
    envelope = bytes(a.email_enc)
    with rt_a.db.new_session() as session:
        row = session.get(DataKey, a.id)
        wrapped, version, kind = row.wrapped, row.kek_version, row.owner_kind
    with rt_b.db.new_session() as session:
        with pytest.raises(DecryptionError, match="no data key for this owner"):
            vault_of(session).open(session, envelope, "subjects", "email_enc", a.id)
        # Even with A's wrapped data key copied into B's database (a restore into the wrong
        # deployment), B's key ring does not unwrap it.
        session.add(DataKey(owner_id=a.id, owner_kind=kind, wrapped=wrapped, kek_version=version))
        session.commit()
        rt_b.vault.forget_cached_keys()
        with pytest.raises(DecryptionError, match="does not unwrap") as caught:
            vault_of(session).open(session, envelope, "subjects", "email_enc", a.id)
    told = f"{caught.value!r} {caught.value.__cause__!r} {caught.value.__context__!r}"
    for secret in ("secret.person", "a.example", "甲乙"):
        assert secret not in told


def test_a_session_not_made_by_an_app_has_no_keys(rt):
    with (
        Session(rt.db.engine) as session,
        pytest.raises(RuntimeError, match="this session has no vault"),
    ):
        register(session, email="nobody@example.com")
    keyless = Database(rt.db.url)
    try:
        with (
            keyless.new_session() as session,
            pytest.raises(RuntimeError, match="this session has no vault"),
        ):
            find_by_contact(session, "email", "nobody@example.com")
    finally:
        keyless.dispose()


def test_a_row_read_after_its_session_closed_opens_with_its_apps_keys(two_apps):
    rt_a, rt_b = two_apps
    a = _register(rt_a, "later@a.example")  # sealed in a session now closed
    assert a.email == "later@a.example"
    with rt_a.db.new_session() as session:
        loaded = session.get(Subject, a.id)  # loaded, not read while in the session
    assert loaded.email == "later@a.example"
    b = _register(rt_b, "later@b.example")
    assert b.email == "later@b.example"
