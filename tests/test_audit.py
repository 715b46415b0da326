"""The audit chain: append-only in the database, and any edit, deletion or reordering detected."""

import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from privacy_service import audit
from privacy_service.audit import AuditEntry


@pytest.fixture
def chain(session):
    for i in range(5):
        audit.record(
            session,
            "test.event",
            actor="tester",
            request_id=None,
            fields=["name"],
            details={"i": i},
        )
    session.commit()
    return session


def _without_triggers(session, backend, statement, **params):
    """What an attacker with database access could do: bypass the append-only triggers."""
    if backend == "postgresql":
        session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        for part in statement.split("; "):
            session.execute(text(part), params)
        session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    else:
        session.execute(text("DROP TRIGGER audit_entries_no_update"))
        session.execute(text("DROP TRIGGER audit_entries_no_delete"))
        for part in statement.split("; "):
            session.execute(text(part), params)
    session.commit()


def test_clean_chain_verifies(chain, runner):
    result = audit.verify_chain(chain)
    assert result.ok and result.entries == 5
    cli = runner.invoke(args=["audit", "verify"])
    assert cli.exit_code == 0 and "intact: 5 entries" in cli.output


def test_entries_link_and_never_hold_values(chain):
    entries = chain.query(AuditEntry).order_by(AuditEntry.seq).all()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entries SET actor = 'x'", "DELETE FROM audit_entries"]
)
def test_database_refuses_update_and_delete(chain, statement):
    with pytest.raises(DBAPIError, match="append-only"):
        chain.execute(text(statement))
    chain.rollback()


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3", "entry 3 was altered"),
        ("UPDATE audit_entries SET details = '{\"i\": 9}' WHERE seq = 2", "entry 2 was altered"),
        ("DELETE FROM audit_entries WHERE seq = 3", "entry 3 is missing"),
        ("DELETE FROM audit_entries WHERE seq = 5", "the chain head says 5 entries"),
        # Swap two entries' contents (a reordering).
        (
            "UPDATE audit_entries SET seq = seq + 100 WHERE seq IN (2, 3); "
            "UPDATE audit_entries SET seq = 105 - seq WHERE seq > 100",
            "does not link",
        ),
    ],
)
def test_tampering_is_detected(chain, backend, runner, statement, expected):
    _without_triggers(chain, backend, statement)
    result = audit.verify_chain(chain)
    assert not result.ok
    assert any(expected in problem for problem in result.problems), result.problems
    cli = runner.invoke(args=["audit", "verify"])
    assert cli.exit_code == 1 and "TAMPERED" in cli.output


def test_rehashing_without_the_key_is_detected(chain, backend):
    # An attacker recomputes plain SHA-256 hashes after an edit: the HMAC key is not theirs.
    import hashlib

    forged = hashlib.sha256(b"forged").hexdigest()
    _without_triggers(
        chain,
        backend,
        "UPDATE audit_entries SET actor = 'mallory', hash = :h WHERE seq = 5",
        h=forged,
    )
    chain.execute(text("UPDATE audit_head SET hash = :h"), {"h": forged})
    chain.commit()
    assert not audit.verify_chain(chain).ok


def test_request_lifecycle_is_audited(verified, session):
    rid, _ = verified()
    actions = [
        e.action
        for e in session.query(AuditEntry).filter_by(request_id=rid).order_by(AuditEntry.seq)
    ]
    assert actions == [
        "request.received",
        "request.identity_matched",
        "request.verification_attempt",
        "request.status_changed",
    ]
    assert audit.verify_chain(session).ok


def test_rolled_back_events_leave_no_entry(session):
    audit.record(session, "test.lost", actor="tester")
    assert audit.pending(session)
    session.rollback()
    assert not audit.pending(session)
    audit.record(session, "test.kept", actor="tester")
    session.commit()
    assert [e.action for e in session.query(AuditEntry)] == ["test.kept"]


def test_concurrent_writers_keep_one_valid_chain(rt, app):
    import threading

    barrier = threading.Barrier(4)

    def writer(n):
        session = rt.db.new_session()
        barrier.wait()
        for i in range(10):
            audit.record(session, "test.concurrent", actor=f"w{n}", details={"i": i})
            audit.record(session, "test.concurrent", actor=f"w{n}", details={"i": i, "n": 2})
            session.commit()
        session.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        result = audit.verify_chain(rt.db.session)
    assert result.ok, result.problems
    assert result.entries == 80
