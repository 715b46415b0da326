"""``privacy db``: the service's own database (Alembic migrations)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from privacy_service import migrate
from privacy_service.web.context import runtime


@click.group(cls=AppGroup)
def db():
    """The service's own database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply Alembic migrations."""
    rt = runtime()
    migrate.upgrade(rt.db.engine, revision)
    click.echo(f"database at revision {migrate.current(rt.db.engine)}")
