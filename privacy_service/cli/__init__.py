"""The ``privacy`` command: one group per domain, calling the same operations as the web.

Each module holds one command group (``privacy db``, ``privacy requests``, ...). ``main`` builds
the app (``create_app``) so that every command runs with the same runtime as the web.
"""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from privacy_service.app import create_app
from privacy_service.cli import (
    audit,
    calendar,
    config,
    datamap,
    db,
    demo,
    exports,
    holds,
    jobs,
    keys,
    requests,
    retention,
    staff,
    tasks,
)
from privacy_service.config import ConfigError


def _create_app():
    try:
        return create_app()
    except ConfigError as exc:
        # An expected error: its message says what to fix; a traceback would only hide it.
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main():
    """Operate the privacy service."""


for command in (
    db.db,
    calendar.calendar,
    audit.audit_group,
    keys.keys,
    jobs.jobs,
    jobs.scheduler,
    tasks.worker,
    tasks.tasks,
    exports.exports,
    requests.requests_group,
    holds.holds_group,
    retention.erasures_group,
    retention.retention,
    staff.staff_group,
    demo.demo,
    datamap.datamap,
    config.show_config,
    config.routes,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
