"""``privacy jobs`` and ``privacy scheduler``: the scheduled jobs, now or in a scheduler."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup, with_appcontext

from privacy_service.jobs import JOBS, run_job, start_scheduler
from privacy_service.recovery import recover_abandoned, recover_at_start
from privacy_service.web.context import runtime


@click.group(cls=AppGroup)
def jobs():
    """Scheduled jobs."""


@jobs.command("list")
def jobs_list():
    """The job table."""
    for spec in JOBS:
        click.echo(f"{spec.id:40} {spec.trigger} {json.dumps(spec.trigger_args)}")


@jobs.command("recover")
def jobs_recover():
    """Close purge runs and key rotations whose process died as interrupted, now."""
    rt = runtime()
    found = recover_abandoned(rt.db.session, rt.collector())
    click.echo(", ".join(f"{kind}: {n} interrupted" for kind, n in found.items()))


@jobs.command("run")
@click.argument("job_id", type=click.Choice([spec.id for spec in JOBS]))
def jobs_run(job_id):
    """Run one job now (under its lease, like the scheduler)."""
    spec = next(s for s in JOBS if s.id == job_id)
    count = run_job(runtime(), spec)
    click.echo("held by another process; skipped" if count is None else f"{job_id}: {count}")


@click.command("scheduler")
@with_appcontext
def scheduler():
    """Run the scheduled jobs (retention, reminders, expiry, sweeper); one run per schedule."""
    rt = runtime()
    recover_at_start(rt)
    click.echo(f"scheduler started: {len(JOBS)} jobs")
    try:
        start_scheduler(rt, blocking=True)
    except (KeyboardInterrupt, SystemExit):
        click.echo("scheduler stopped")
