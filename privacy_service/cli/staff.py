"""``privacy staff``: accounts of the privacy team (the same operations as the admin pages)."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask.cli import AppGroup
from sqlalchemy import select

from privacy_service.team import accounts
from privacy_service.team.accounts import ROLES, StaffUser
from privacy_service.web.context import runtime

CLI = "cli"  # the audit actor of an operator at the terminal


@click.group("staff", cls=AppGroup)
def staff_group():
    """Accounts of the privacy team."""


def member_by_email(email: str) -> StaffUser:
    """The account with this e-mail, or a clear error."""
    user = accounts.by_email(runtime().db.session, email)
    if user is None:
        raise click.ClickException(f"no staff account with the e-mail {email.strip().lower()}")
    return user


def deciding_actor(email: str) -> str:
    """The audit actor of a staff account named by its e-mail (decisions need a real member)."""
    member = accounts.by_email(runtime().db.session, email)
    if member is None or member.disabled_at is not None:
        raise click.ClickException(
            f"--by must be the e-mail of an active staff account; {email!r} is not one "
            "(see 'privacy staff list', or create it with 'privacy staff create')"
        )
    if member.role not in ("agent", "admin"):
        raise click.ClickException(f"{member.email} is an auditor and cannot decide requests")
    return f"staff:{member.id}"


def _apply(email: str, operation: Callable, *args, **kwargs):
    """Run one account operation on the member named by ``email`` and commit it."""
    session = runtime().db.session
    member = member_by_email(email)
    try:
        result = operation(session, member, *args, actor=CLI, **kwargs)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    return member, result


@staff_group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--totp", is_flag=True, help="Enrol an authenticator app (second factor).")
@click.password_option(help="At least 12 characters (prompted when omitted).")
def staff_create(email, role, totp, password):
    """Create a staff account (passwords are stored as Argon2id hashes)."""
    session = runtime().db.session
    try:
        user = accounts.create(session, email=email, role=role, password=password, totp=totp)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    session.commit()
    click.echo(f"staff account {user.email} ({role}) created; sign in at /staff/login")
    if totp:
        click.echo(f"add to the authenticator app: {accounts.enrolment_uri(user)}")


@staff_group.command("set-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
def staff_set_role(email, role):
    """Change a member's role; their sessions end at once."""
    _apply(email, accounts.set_role, role)
    click.echo(f"role changed to {role}; every session of the account ended")


@staff_group.command("set-password")
@click.option("--email", required=True)
@click.password_option(help="At least 12 characters (prompted when omitted).")
def staff_set_password(email, password):
    """Set a member's password; their sessions end at once."""
    _apply(email, accounts.set_password, password)
    click.echo("password changed; every session of the account ended")


@staff_group.command("lock")
@click.option("--email", required=True)
@click.option("--minutes", type=click.IntRange(1, 525_600), help="Default: until unlocked.")
def staff_lock(email, minutes):
    """Lock an account (it cannot sign in); its sessions end at once."""
    _apply(email, accounts.lock, minutes=minutes)
    click.echo("account locked; every session of the account ended")


@staff_group.command("unlock")
@click.option("--email", required=True)
def staff_unlock(email):
    """Lift a lock."""
    _apply(email, accounts.unlock)
    click.echo("account unlocked")


@staff_group.command("list")
def staff_list():
    """Every staff account: e-mail, role, second factor, state."""
    for m in runtime().db.session.scalars(select(StaffUser).order_by(StaffUser.email)):
        state = "disabled" if m.disabled_at else "active"
        tfa = "2FA" if m.totp_enc else "no 2FA"
        click.echo(f"{m.email:40} {m.role:8} {tfa:7} {state}")


@staff_group.command("disable")
@click.option("--email", required=True)
def staff_disable(email):
    """Disable an account (it cannot sign in; its sessions end at once)."""
    member, _ = _apply(email, accounts.disable)
    click.echo(f"{member.email} disabled")


@staff_group.command("enable")
@click.option("--email", required=True)
def staff_enable(email):
    """Enable a disabled account again."""
    member, _ = _apply(email, accounts.enable)
    click.echo(f"{member.email} enabled")


@staff_group.command("reset-2fa")
@click.option("--email", required=True)
def staff_reset_2fa(email):
    """Give a member a new authenticator secret (printed once) and end their sessions."""
    _member, uri = _apply(email, accounts.reset_second_factor)
    click.echo(f"add to the authenticator app: {uri}")


@staff_group.command("sign-out")
@click.option("--email", required=True)
def staff_sign_out(email):
    """End every open session of a member."""
    member, _ = _apply(email, accounts.sign_out)
    click.echo(f"{member.email}: sessions ended")
