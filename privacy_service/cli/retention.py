"""``privacy erasures`` and ``privacy retention``: deletions, closures and the nightly purge."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from privacy_service.web.context import runtime
from retention.engine import explain, preview, run
from retention.processor import run_pending


@click.group("erasures", cls=AppGroup)
def erasures_group():
    """Deletions and account closures."""


@erasures_group.command("run")
def erasures_run():
    """End due cooling-offs and carry out approved deletions and closures now."""
    click.echo(f"{run_pending(runtime().erasure_deps())} erasure(s) completed")


@click.group(cls=AppGroup)
def retention():
    """Retention rules and purges."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what would go.")
@click.option(
    "--batch",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows per batch.",
)
def retention_run(dry_run, batch):
    """One retention pass (or what it would remove), with a summary per rule."""
    rt = runtime()
    session = rt.db.session
    if dry_run:
        counts = preview(rt.collector(), rt.policies, session)
        for rule, tables in counts.items():
            click.echo(
                f"{rule:24} would remove " + ", ".join(f"{t} {n}" for t, n in tables.items())
            )
        return
    with click.progressbar(length=0, label="purging", show_pos=True) as bar:
        record = run(
            rt.collector(),
            rt.policies,
            session,
            batch=batch,
            progress=lambda _r, n: bar.update(n),
        )
    for rule, tables in record.counts.items():
        click.echo(f"{rule:24} removed " + ", ".join(f"{t} {n}" for t, n in tables.items()))
    for error in record.errors:
        click.echo(f"ERROR in {error['rule']} ({error['table']}): {error['error_type']}", err=True)
    click.echo(f"run {record.id}: {record.status} in {record.seconds} s")
    if record.errors:
        sys.exit(1)


@retention.command("explain")
@click.argument("table")
@click.argument("row_id", type=int)
def retention_explain(table, row_id):
    """Why one row is kept, or when it will go."""
    rt = runtime()
    click.echo(
        json.dumps(
            explain(rt.collector(), rt.policies, rt.db.session, table, row_id),
            ensure_ascii=False,
            indent=2,
        )
    )
