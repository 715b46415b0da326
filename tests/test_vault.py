"""The vault: envelopes bound to their place, per-subject keys, rotation, retirement, shredding."""

import base64
import os
import shutil
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text, update

from privacy_service import audit
from privacy_service.crypto import DecryptionError, Vault, vault_of
from privacy_service.crypto.dek_cache import DataKeyCache
from privacy_service.crypto.keyring import KeyMaterialError, KeyRing, parse_keks
from privacy_service.crypto.keystore import DataKey, KeyVersion
from privacy_service.crypto.normalize import (
    InvalidValue,
    id_check_character,
    mask,
    normalize,
)
from privacy_service.crypto.vault import SubjectErased
from privacy_service.db import Database
from privacy_service.keys.rotation import pending_count, retire, rewrap
from privacy_service.subjects.directory import find_by_contact, register
from privacy_service.subjects.models import Subject
from retention.shred import shred_subject


def id_number(seed: int) -> str:
    first17 = f"110105199{seed % 10}0307{seed:04d}"[:17].ljust(17, "1")
    return first17 + id_check_character(first17)


@pytest.fixture
def two(session):
    a = register(session, email="a@example.com", phone="13800000001", name="甲")
    b = register(session, email="b@example.com", phone="13800000002", name="乙")
    session.commit()
    return a, b


def test_values_round_trip_and_the_database_holds_envelopes(two, session):
    a, _ = two
    raw = session.execute(
        text("SELECT email_enc FROM subjects WHERE id = :id"), {"id": a.id}
    ).scalar()
    assert bytes(raw)[0] == 2 and b"a@example.com" not in bytes(raw)
    vault_of(session).forget_cached_keys()
    session.expire_all()
    assert session.get(Subject, a.id).email == "a@example.com"


def test_tampered_envelope_fails(two, session):
    a, _ = two
    env = bytearray(a.email_enc)
    env[-1] ^= 1
    with pytest.raises(DecryptionError):
        vault_of(session).open(session, bytes(env), "subjects", "email_enc", a.id)


def test_value_copied_to_another_row_or_column_fails(two, session):
    a, b = two
    vault = vault_of(session)
    with pytest.raises(DecryptionError):
        vault.open(session, bytes(a.email_enc), "subjects", "email_enc", b.id)  # other row
    with pytest.raises(DecryptionError):
        vault.open(session, bytes(a.email_enc), "subjects", "phone_enc", a.id)  # other column
    # Copying the envelope into b's row in the database is caught when b is read.
    session.execute(update(Subject).where(Subject.id == b.id).values(email_enc=a.email_enc))
    session.commit()
    session.expire_all()
    with pytest.raises(DecryptionError):
        _ = session.get(Subject, b.id).email


def test_wrong_or_missing_key_version_fails(two, session):
    a, _ = two
    vault = vault_of(session)
    vault.forget_cached_keys()
    session.execute(update(DataKey).where(DataKey.owner_id == a.id).values(kek_version=7))
    with pytest.raises(DecryptionError, match="not in the key ring"):
        vault.open(session, bytes(a.email_enc), "subjects", "email_enc", a.id)
    session.rollback()
    # A wrapped key moved to another owner does not unwrap either.
    _, b = two
    wrapped_b = session.get(DataKey, b.id).wrapped
    session.execute(update(DataKey).where(DataKey.owner_id == a.id).values(wrapped=wrapped_b))
    vault.forget_cached_keys()
    with pytest.raises(DecryptionError, match="does not unwrap"):
        vault.open(session, bytes(a.email_enc), "subjects", "email_enc", a.id)
    session.rollback()


def test_a_wrong_kek_for_this_database_is_refused(two, session, rt):
    ring = rt.vault.keyring
    wrong = KeyRing(
        keks={1: os.urandom(32)},
        default_active=1,
        index_key=ring.index_key,
        audit_key=ring.audit_key,
    )
    with pytest.raises(KeyMaterialError, match="not the key this database uses"):
        Vault(wrong).active_version(session)


def test_blind_index_finds_without_decrypting_the_table(two, session):
    a, _ = two
    found = find_by_contact(session, "phone", "+86 138 0000 0001")
    assert found is not None and found.id == a.id
    assert find_by_contact(session, "email", " A@Example.COM ").id == a.id
    assert find_by_contact(session, "phone", "13800000009") is None


def test_id_number_normalisation_and_masking():
    number = id_number(42)
    assert normalize("id_number", number.lower()) == number
    assert normalize("id_number", " " + number[:9] + " " + number[9:]) == number
    bad = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(InvalidValue, match="check character"):
        normalize("id_number", bad)
    with pytest.raises(InvalidValue):
        normalize("id_number", "12345")
    assert mask("id_number", number) == number[:3] + "*" * 11 + number[-4:]
    # The published example number from GB 11643 (checksum X).
    assert normalize("id_number", "11010519491231002x") == "11010519491231002X"


def test_shredding_makes_a_subject_unreadable_and_blocks_new_keys(two, session, rt):
    a, b = two
    counts = shred_subject(session, a.id, actor="test", reason="account_closed")
    session.commit()
    assert counts["subject_indexes"] == 1
    rt.vault.forget_cached_keys()
    session.expire_all()
    with pytest.raises(SubjectErased):
        _ = session.get(Subject, a.id).email
    # The erasure marker: no fresh key is minted for a shredded subject.
    with pytest.raises(SubjectErased):
        session.get(Subject, a.id).name = "new"
    session.rollback()
    assert session.get(DataKey, a.id).wrapped is None
    assert session.get(Subject, a.id).email_bidx is None
    assert find_by_contact(session, "email", "a@example.com") is None
    # Others are untouched; shredding twice is harmless; the audit log has it.
    assert session.get(Subject, b.id).email == "b@example.com"
    shred_subject(session, a.id, actor="test", reason="again")
    session.commit()
    assert [
        e.details["key_destroyed_now"]
        for e in session.query(audit.AuditEntry)
        .filter_by(action="subject.crypto_shredded")
        .order_by(audit.AuditEntry.seq)
    ] == [True, False]


def test_shred_in_this_process_evicts_the_cached_key(two, session):
    a, _ = two
    _ = a.email  # cached now
    shred_subject(session, a.id, actor="test", reason="closure")
    session.commit()
    session.expire_all()
    with pytest.raises(SubjectErased):
        _ = session.get(Subject, a.id).email


def test_minted_keys_of_a_rolled_back_transaction_are_not_cached(session, rt):
    subject = register(session, email="gone@example.com")
    owner = subject.id
    session.rollback()
    # Nothing cached: the key never reached the database.
    with pytest.raises(DecryptionError):
        rt.vault.open(
            session,
            b"\x02" + __import__("uuid").UUID(owner).bytes + b"\x00" * 40,
            "subjects",
            "email_enc",
            owner,
        )


def _keys_file(tmp_path, *versions):
    path = tmp_path / "keys"
    path.write_text(",".join(f"{v}:{base64.b64encode(os.urandom(32)).decode()}" for v in versions))
    return path


@pytest.fixture
def file_keyed_app(make_app, tmp_path):
    path = _keys_file(tmp_path, 1)
    app = make_app(keys=path.read_text(), keys_file=str(path))
    return app, path


def test_rotation_rewraps_every_key_and_old_version_can_be_retired(
    file_keyed_app, runner_for, tmp_path
):
    app, path = file_keyed_app
    rt = app.extensions["privacy"]
    with app.app_context():
        session = rt.db.session
        ids = [
            register(session, email=f"u{i}@example.com", phone=f"1390000{i:04d}").id
            for i in range(25)
        ]
        session.commit()
        backup = _backup(rt, tmp_path)

        result = runner_for(app).invoke(args=["keys", "rotate", "--batch", "4"])
        assert result.exit_code == 0, result.output
        assert "re-wrapped 25; 0 left" in result.output
        assert set(parse_keks(path.read_text())) == {1, 2}
        assert (
            session.scalar(select(KeyVersion.status).where(KeyVersion.version == 1))
            == "decrypt_only"
        )
        assert pending_count(session, 2) == 0

        retired = runner_for(app).invoke(args=["keys", "retire", "1", "--yes"])
        assert retired.exit_code == 0, retired.output
        status = runner_for(app).invoke(args=["keys", "status"])
        assert "version 1: retired" in status.output and "version 2: active" in status.output

        # Everything reads with a key ring that no longer holds version 1.
        only_two = {2: parse_keks(path.read_text())[2]}
        ring = rt.vault.keyring
        fresh = Vault(
            KeyRing(
                keks=only_two, default_active=2, index_key=ring.index_key, audit_key=ring.audit_key
            )
        )
        with _session_of(rt, fresh) as later:
            assert [later.get(Subject, i).email for i in ids] == [
                f"u{i}@example.com" for i in range(25)
            ]
        # The backup taken before rotation holds keys wrapped by version 1: unreadable by a
        # process with today's key ring (no cached keys).
        fresh.forget_cached_keys()
        with backup() as old:
            row = old.execute(text("SELECT email_enc, id FROM subjects LIMIT 1")).one()
            with pytest.raises(DecryptionError):
                fresh.open(old, bytes(row[0]), "subjects", "email_enc", row[1])


@contextmanager
def _session_of(rt, vault):
    """A session on the app's database under ``vault`` (a process started with that key ring)."""
    db = Database(rt.db.url, vault=vault)
    try:
        with db.new_session() as session:
            yield session
    finally:
        db.dispose()


def _backup(rt, tmp_path):
    """A copy of the database as it is now (file copy on SQLite, a template copy on PostgreSQL)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    url = rt.db.engine.url
    if url.get_backend_name() == "sqlite":
        copy = tmp_path / "backup.db"
        rt.db.engine.dispose()
        shutil.copy(url.database, copy)
        target = f"sqlite:///{copy}"
    else:
        name = url.database + "_bak"
        # A template copy needs the database to itself: the app's queue consumers (notices and
        # lookups) hold pooled connections, so they stop first, as before a real backup.
        rt.queue.stop()
        rt.db.dispose()
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            # Another app of the test (its consumers, the sweeper) may still hold a connection:
            # end those sessions, as an operator's backup window would.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": url.database},
            )
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
        admin.dispose()
        target = url.set(database=name)

    @contextmanager
    def open_backup():
        engine = create_engine(target)
        with Session(engine) as session:
            yield session
        engine.dispose()
        if url.get_backend_name() != "sqlite":
            admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    return open_backup


def test_rotation_resumes_after_a_crash(session, rt, make_app):
    for i in range(12):
        register(session, email=f"r{i}@example.com")
    session.commit()
    ring = rt.vault.keyring
    bigger = KeyRing(
        keks={**ring.keks, 2: os.urandom(32)},
        default_active=1,
        index_key=ring.index_key,
        audit_key=ring.audit_key,
    )
    vault = Vault(bigger)
    vault.activate(session, 2)
    session.commit()
    partial = rewrap(
        rt.db.new_session, vault, 2, batch=5, max_batches=1
    )  # "killed" after one batch
    assert (partial.rewrapped, partial.remaining) == (5, 7)
    rest = rewrap(rt.db.new_session, vault, 2, batch=5)
    assert (rest.rewrapped, rest.remaining) == (7, 0)
    with pytest.raises(KeyMaterialError, match="is active"):
        retire(session, 2, actor="cli")
    retire(session, 1, actor="cli")
    session.commit()
    vault.forget_cached_keys()
    with _session_of(rt, vault) as later:
        assert {s.email for s in later.scalars(select(Subject))} == {
            f"r{i}@example.com" for i in range(12)
        }


def test_retired_version_cannot_be_used_and_busy_version_cannot_be_retired(two, session, rt):
    with pytest.raises(KeyMaterialError, match="still wraps 2 data key"):
        ring = rt.vault.keyring
        vault = Vault(
            KeyRing(
                keks={**ring.keks, 2: os.urandom(32)},
                default_active=1,
                index_key=ring.index_key,
                audit_key=ring.audit_key,
            )
        )
        vault.activate(session, 2)
        retire(session, 1, actor="cli")
    session.rollback()
    a, _ = two
    session.execute(update(KeyVersion).where(KeyVersion.version == 1).values(status="retired"))
    rt.vault.forget_cached_keys()
    with pytest.raises(DecryptionError, match="retired"):
        rt.vault.open(session, bytes(a.email_enc), "subjects", "email_enc", a.id)
    session.rollback()


def test_cache_is_bounded():
    cache = DataKeyCache(size=3, seconds=60)
    for i in range(5):
        cache.put(bytes([i]) * 16, object())
    assert cache.get(bytes([0]) * 16) is None and cache.get(bytes([4]) * 16) is not None
    expired = DataKeyCache(size=3, seconds=-1)
    expired.put(b"x" * 16, object())
    assert expired.get(b"x" * 16) is None


def test_open_many_matches_open_and_checks_each_place(two, session):
    a, b = two
    vault = vault_of(session)
    rows = [(a.email_enc, a.id), (b.email_enc, b.id), (a.phone_enc, a.id)]
    got = vault.open_many(
        session, [bytes(r[0]) for r in rows[:2]], "subjects", "email_enc", [r[1] for r in rows[:2]]
    )
    assert got == ["a@example.com", "b@example.com"]
    with pytest.raises(DecryptionError):
        vault.open_many(session, [bytes(a.email_enc)], "subjects", "email_enc", [b.id])
