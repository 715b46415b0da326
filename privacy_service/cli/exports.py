"""``privacy exports``: build access-request exports now, or queue a failed one again."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from exports.worker import run_pending
from privacy_service.cli.common import committing
from privacy_service.errors import Problem
from privacy_service.requests.models import DataRequest
from privacy_service.tasks import failures
from privacy_service.web.context import runtime


@click.group(cls=AppGroup)
def exports():
    """Access-request exports."""


@exports.command("build")
@click.option("--limit", type=int, default=None, help="Build at most this many.")
def exports_build(limit):
    """Build waiting exports now, in this process."""
    built = run_pending(runtime().export_deps(), limit=limit)
    click.echo(f"{built} export(s) built")


@exports.command("retry")
@click.argument("request_id")
def exports_retry(request_id):
    """Queue a failed export again (after fixing the cause)."""
    with committing() as session:
        request = session.get(DataRequest, request_id)
        try:
            if request is None:
                raise click.ClickException("no failed export for that request")
            failures.retry(session, request, actor="cli")
        except Problem as exc:
            # Whatever the reason (not failed, or no export at all), the operator's answer is
            # the same.
            raise click.ClickException("no failed export for that request") from exc
    click.echo("queued")
