"""``privacy demo``: the demo shop (never in production)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from privacy_service.demo import refusal, seed
from privacy_service.team.accounts import StaffUser, create
from privacy_service.web.context import runtime


@click.group(cls=AppGroup)
def demo():
    """The demo shop."""


@demo.command("seed")
@click.option("--customers", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--orders-per-customer", default=12, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--browsing-per-customer", default=200, show_default=True, type=click.IntRange(0, 10_000_000)
)
@click.option("--seed", "seed_value", default=2024, show_default=True, help="Random seed.")
@click.option("--reset", is_flag=True, help="Drop the demo shop's rows and seed it again.")
def demo_seed(customers, orders_per_customer, browsing_per_customer, seed_value, reset):
    """Create the demo shop, or grow it to --customers (demo@example.com / 13800138000 included).

    Run again with a larger --customers to add customers; --reset starts the shop over.
    """
    rt = runtime()
    if rt.settings.is_production:
        click.echo("refused: demo data is never written in production (PRIVACY_ENV=production)")
        sys.exit(1)
    _demo_staff(rt)  # the service's own database: the printed dashboard login works either way
    skip = refusal(rt)
    if skip:
        # Not an error: `make run` goes on to serve the operator's shop.
        click.echo(f"demo seed skipped: {skip}")
        return
    with click.progressbar(length=customers, label="customers") as bar:
        summary = seed(
            rt.db.session,
            rt.sources["shop"],
            customers=customers,
            orders_per_customer=orders_per_customer,
            browsing_per_customer=browsing_per_customer,
            seed_value=seed_value,
            progress=bar.update,
            support_engine=rt.sources.get("support"),
            reset=reset,
        )
    if summary is None:
        click.echo(
            f"demo shop already has {customers} customers or more "
            "(a larger --customers grows it; --reset starts over)"
        )
        return
    rows = ", ".join(f"{t} {n}" for t, n in sorted(summary.rows.items()))
    click.echo(f"demo shop seeded: {summary.customers} customers ({summary.added} added); {rows}")


DEMO_STAFF = ("admin@shop.example", "demo-admin-password")


def _demo_staff(rt) -> None:
    """A demo admin for the dashboard, in development only (printed by ``make run``)."""
    if rt.settings.is_production:
        return
    session = rt.db.session
    if session.scalars(select(StaffUser).where(StaffUser.email == DEMO_STAFF[0])).first() is None:
        create(session, email=DEMO_STAFF[0], role="admin", password=DEMO_STAFF[1])
        session.commit()
        click.echo(f"demo staff login: {DEMO_STAFF[0]} / {DEMO_STAFF[1]} (development only)")
