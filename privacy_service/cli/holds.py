"""``privacy holds``: legal holds on a customer's data."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from privacy_service import holds
from privacy_service.cli.common import by_option, committing, deciding_actor
from privacy_service.subjects.directory import find_by_contact
from privacy_service.web.context import runtime


@click.group("holds", cls=AppGroup)
def holds_group():
    """Legal holds on a customer's data."""


@holds_group.command("set")
@click.option("--email", help="The customer's email (or --phone).")
@click.option("--phone")
@click.option("--category", default=None, help="One category; all when omitted.")
@click.option("--reason", required=True, help="Internal reason (never shown to the customer).")
@click.option("--until", "until", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@by_option
def holds_set(email, phone, category, reason, until, actor):
    """Place a legal hold: deletion and closure keep what it covers."""
    rt = runtime()
    by = deciding_actor(actor)
    if until.date() < dt.date.today():
        raise click.ClickException("--until is in the past: the hold would keep nothing")
    if bool(email) == bool(phone):
        raise click.ClickException("give --email or --phone")
    subject = find_by_contact(rt.db.session, "email" if email else "phone", email or phone)
    if subject is None:
        raise click.ClickException("no such customer")
    with committing(holds.UnknownCategory) as session:
        hold = holds.place(
            session,
            subject_id=subject.id,
            category=category,
            reason=reason,
            until=until.date(),
            actor=by,
            categories=rt.policies.categories,
        )
    click.echo(f"hold {hold.id} placed until {hold.until}")


@holds_group.command("release")
@click.argument("hold_id")
@by_option
def holds_release(hold_id, actor):
    """End a hold."""
    with committing() as session:
        if holds.release(session, hold_id, actor=deciding_actor(actor)) is None:
            raise click.ClickException("no such hold")
    click.echo("released")
