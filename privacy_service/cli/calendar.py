"""``privacy calendar``: working days, due dates, provisional deadlines."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from privacy_service.cli.common import committing
from privacy_service.requests.deadlines import recompute_provisional
from privacy_service.web.context import runtime


@click.group(cls=AppGroup)
def calendar():
    """Working days and deadlines."""


@calendar.command("due")
@click.argument("date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option(
    "--days",
    default=15,
    show_default=True,
    type=click.IntRange(1, 365),
    help="Working days to add.",
)
def calendar_due(date, days):
    """Print the due date DAYS working days after a request received on DATE."""
    deadline = runtime().policies.calendar.add_working_days(date.date(), days)
    click.echo(deadline.due_date.isoformat() + (" provisional" if deadline.provisional else ""))


@calendar.command("years")
def calendar_years():
    """Which years are known, and from which source."""
    cal = runtime().policies.calendar
    this_year = dt.date.today().year
    for year in range(this_year - 2, this_year + 3):
        if year in cal.official_years:
            source = "policies/calendar: " + cal.official_years[year].source
        elif cal.is_known(year):
            source = "chinesecalendar package"
        else:
            source = "UNKNOWN: deadlines reaching this year are provisional"
        click.echo(f"{year}  {source}")


@calendar.command("recompute")
def calendar_recompute():
    """Recompute provisional deadlines now (after adding a year under policies/calendar/)."""
    with committing() as session:
        changed = recompute_provisional(session, runtime().policies)
    click.echo(f"{changed} deadline(s) recomputed")
