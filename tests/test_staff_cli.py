"""The CLI's staff checks: ``--by`` names a staff account, ``config`` says where keys come from,
the demo seed, the staff commands that run the admin pages' operations, and holds and export
retries that refuse clearly."""

import pytest
from sqlalchemy import select
from staffpages import PASSWORD, deletion_request, login

from privacy_service.audit import AuditEntry
from privacy_service.team.accounts import StaffUser

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


def test_cli_by_must_name_a_staff_account_and_config_says_where_keys_come_from(
    runner, verified, session, team
):
    rid = deletion_request(verified)
    wrong = runner.invoke(args=["requests", "approve", rid, "--by", "li.na"])
    assert wrong.exit_code != 0 and "staff account" in wrong.output
    auditor = runner.invoke(args=["requests", "approve", rid, "--by", "auditor@shop.example"])
    assert auditor.exit_code != 0
    ok = runner.invoke(args=["requests", "approve", rid, "--by", "Agent@shop.example"])
    assert ok.exit_code == 0, ok.output
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "request.status_changed")
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry.actor == f"staff:{team['agent'].id}"
    listed = runner.invoke(args=["staff", "list"])
    assert "agent2@shop.example" in listed.output
    assert runner.invoke(args=["staff", "disable", "--email", "agent2@shop.example"]).exit_code == 0
    assert "disabled" in runner.invoke(args=["staff", "list"]).output


def test_cli_config_names_the_development_key_ring(make_app, runner_for, tmp_path):
    app = make_app(keys="", index_key="", audit_key="")
    out = runner_for(app).invoke(args=["config"]).output
    assert '"keys": "set (development key ring' in out
    assert '"index_key": "set (development key ring' in out


@pytest.mark.every_backend  # the demo's bulk load differs per dialect
def test_demo_seed_grows_and_resets(runner, rt, session):
    from privacy_service.demo import seeded_customers

    assert (
        "3 customers (3 added)"
        in runner.invoke(
            args=["demo", "seed", "--customers", "3", "--browsing-per-customer", "2"]
        ).output
    )
    grown = runner.invoke(args=["demo", "seed", "--customers", "5", "--browsing-per-customer", "2"])
    assert "5 customers (2 added)" in grown.output, grown.output
    assert seeded_customers(rt.sources["shop"]) == 5
    again = runner.invoke(args=["demo", "seed", "--customers", "4"])
    assert "already has 4 customers or more" in again.output
    reset = runner.invoke(
        args=["demo", "seed", "--customers", "2", "--browsing-per-customer", "1", "--reset"]
    )
    assert "2 customers (2 added)" in reset.output
    assert seeded_customers(rt.sources["shop"]) == 2
    assert PASSWORD


def test_cli_staff_commands_run_the_admin_pages_operations(client, runner, team, session):
    login(client, "agent2@shop.example")
    assert client.get("/staff/requests").status_code == 200
    out = runner.invoke(args=["staff", "sign-out", "--email", "agent2@shop.example"])
    assert out.exit_code == 0, out.output
    assert client.get("/staff/requests").status_code == 302, "the open session has ended"
    reset = runner.invoke(args=["staff", "reset-2fa", "--email", "agent2@shop.example"])
    assert "otpauth://" in reset.output
    runner.invoke(args=["staff", "lock", "--email", "agent2@shop.example"])
    runner.invoke(args=["staff", "disable", "--email", "agent2@shop.example"])
    assert runner.invoke(args=["staff", "enable", "--email", "agent2@shop.example"]).exit_code == 0
    session.expire_all()
    member = session.get(StaffUser, team["agent2"].id)
    assert member.sessions_revoked_at is not None and member.totp_enc is not None
    assert member.disabled_at is None and member.locked_until is None, "enabled like the page"
    changes = [
        e.details["change"]
        for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff.changed").order_by(AuditEntry.seq)
        )
    ]
    assert changes == ["signed_out", "second_factor_reset", "disabled", "enabled"]
    assert all(
        e.actor == "cli"
        for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "staff.changed"))
    )
    missing = runner.invoke(args=["staff", "enable", "--email", "nobody@shop.example"])
    assert missing.exit_code != 0 and "no staff account" in missing.output


def test_cli_holds_and_export_retry_refuse_clearly_and_change_nothing(
    runner, team, session, customer
):
    from privacy_service import holds

    customer(email="demo@example.com")

    unknown = runner.invoke(
        args=[
            "holds",
            "set",
            "--email",
            "demo@example.com",
            "--category",
            "no_such_category",
            "--reason",
            "x",
            "--until",
            "2099-01-01",
            "--by",
            "admin@shop.example",
        ]
    )
    assert unknown.exit_code != 0
    assert "unknown category" in unknown.output, unknown.output
    assert session.scalars(select(holds.LegalHold)).first() is None
    retry = runner.invoke(args=["exports", "retry", "01000000-0000-7000-8000-000000000000"])
    assert retry.exit_code != 0 and "no failed export" in retry.output
    assert (
        session.scalars(select(AuditEntry).where(AuditEntry.action == "export.retried")).first()
        is None
    )
