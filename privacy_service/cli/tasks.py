"""``privacy worker`` and ``privacy tasks``: queue consumers, and the queue's state."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from privacy_service.notices import outbox
from privacy_service.notices.outbox import FAILED, PENDING, SENT
from privacy_service.tasks.consumer import run_worker
from privacy_service.tasks.sweeper import sweep
from privacy_service.web.context import runtime


@click.command("worker")
@with_appcontext
@click.option("--workers", type=int, default=None, help="Consumer threads (PRIVACY_QUEUE_WORKERS).")
def worker(workers):
    """Run a queue consumer: exports, deletions and closures, contact lookups, notices.

    Exports and erasures get --workers threads; contact lookups and notices their own
    (PRIVACY_DELIVERY_THREADS), so a code never waits behind an export. Run as many as needed,
    on as many machines as share the queue (PRIVACY_QUEUE_URL). Ctrl-C stops.
    """
    rt = runtime()
    rt.queue.stop()  # this process consumes in the foreground, not in background threads
    count = workers or rt.settings.queue_workers
    click.echo(f"worker started: {count} thread(s) on the {rt.queue.backend} queue")
    run_worker(rt, rt.queue, count)
    click.echo("worker stopped")


@click.group(cls=AppGroup)
def tasks():
    """The task queue."""


@tasks.command("sweep")
def tasks_sweep():
    """Enqueue open exports, erasures, contact lookups and unsent notices whose task is missing."""
    rt = runtime()
    click.echo(f"{sweep(rt, rt.queue)} task(s) enqueued")


@tasks.command("status")
def tasks_status():
    """How many tasks wait on the queue, now and scheduled (retries); the outbox's messages."""
    rt = runtime()
    huey, fast = rt.queue.huey, rt.queue.fast
    click.echo(
        f"backend {rt.queue.backend}; pending {huey.pending_count()}; "
        f"scheduled {huey.scheduled_count()}"
    )
    click.echo(
        f"customer lane (lookups, notices): pending {fast.pending_count()}; "
        f"scheduled {fast.scheduled_count()}"
    )
    counts = outbox.counts(rt.db.session)
    rt.db.session.commit()
    click.echo("outbox: " + "; ".join(f"{s} {counts.get(s, 0)}" for s in (PENDING, SENT, FAILED)))
