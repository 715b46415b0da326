"""``privacy staff``: accounts of the privacy team (the same operations as the admin pages)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy_service.cli.common import committing
from privacy_service.team import accounts
from privacy_service.team.accounts import ROLES, StaffUser
from privacy_service.web.context import runtime

CLI = "cli"  # the audit actor of an operator at the terminal
password_option = click.password_option(help="At least 12 characters (prompted when omitted).")


@click.group("staff", cls=AppGroup)
def staff_group():
    """Accounts of the privacy team."""


def member_by_email(email: str) -> StaffUser:
    """The account with this e-mail, or a clear error."""
    user = accounts.by_email(runtime().db.session, email)
    if user is None:
        raise click.ClickException(f"no staff account with the e-mail {email.strip().lower()}")
    return user


def account_command(name: str) -> Callable[[Callable[..., str]], click.Command]:
    """A ``privacy staff NAME --email ...`` command on one member's account.

    The decorated function gets the session, the member and its own options, runs the account
    operation and returns what to print; the change is committed in between (an operation's
    ``ValueError`` is printed instead, and nothing is kept).
    """

    def register(body: Callable[..., str]) -> click.Command:
        @staff_group.command(name)
        @click.option("--email", required=True)
        @functools.wraps(body)
        def command(email, **options):
            with committing(ValueError) as session:
                done = body(session, member_by_email(email), **options)
            click.echo(done)

        return command

    return register


@staff_group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--totp", is_flag=True, help="Enrol an authenticator app (second factor).")
@password_option
def staff_create(email, role, totp, password):
    """Create a staff account (passwords are stored as Argon2id hashes)."""
    with committing(ValueError) as session:
        user = accounts.create(session, email=email, role=role, password=password, totp=totp)
    click.echo(f"staff account {user.email} ({role}) created; sign in at /staff/login")
    if totp:
        click.echo(f"add to the authenticator app: {accounts.enrolment_uri(user)}")


@account_command("set-role")
@click.option("--role", required=True, type=click.Choice(ROLES))
def staff_set_role(session: Session, member: StaffUser, role: str) -> str:
    """Change a member's role; their sessions end at once."""
    accounts.set_role(session, member, role, actor=CLI)
    return f"role changed to {role}; every session of the account ended"


@account_command("set-password")
@password_option
def staff_set_password(session: Session, member: StaffUser, password: str) -> str:
    """Set a member's password; their sessions end at once."""
    accounts.set_password(session, member, password, actor=CLI)
    return "password changed; every session of the account ended"


@account_command("lock")
@click.option("--minutes", type=click.IntRange(1, 525_600), help="Default: until unlocked.")
def staff_lock(session: Session, member: StaffUser, minutes: int | None) -> str:
    """Lock an account (it cannot sign in); its sessions end at once."""
    accounts.lock(session, member, minutes=minutes, actor=CLI)
    return "account locked; every session of the account ended"


@account_command("unlock")
def staff_unlock(session: Session, member: StaffUser) -> str:
    """Lift a lock."""
    accounts.unlock(session, member, actor=CLI)
    return "account unlocked"


@staff_group.command("list")
def staff_list():
    """Every staff account: e-mail, role, second factor, state."""
    for m in runtime().db.session.scalars(select(StaffUser).order_by(StaffUser.email)):
        state = "disabled" if m.disabled_at else "active"
        tfa = "2FA" if m.totp_enc else "no 2FA"
        click.echo(f"{m.email:40} {m.role:8} {tfa:7} {state}")


@account_command("disable")
def staff_disable(session: Session, member: StaffUser) -> str:
    """Disable an account (it cannot sign in; its sessions end at once)."""
    accounts.disable(session, member, actor=CLI)
    return f"{member.email} disabled"


@account_command("enable")
def staff_enable(session: Session, member: StaffUser) -> str:
    """Enable a disabled account again."""
    accounts.enable(session, member, actor=CLI)
    return f"{member.email} enabled"


@account_command("reset-2fa")
def staff_reset_2fa(session: Session, member: StaffUser) -> str:
    """Give a member a new authenticator secret (printed once) and end their sessions."""
    uri = accounts.reset_second_factor(session, member, actor=CLI)
    return f"add to the authenticator app: {uri}"


@account_command("sign-out")
def staff_sign_out(session: Session, member: StaffUser) -> str:
    """End every open session of a member."""
    accounts.sign_out(session, member, actor=CLI)
    return f"{member.email}: sessions ended"
