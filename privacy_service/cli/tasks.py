"""``privacy worker`` and ``privacy tasks``: queue consumers, and the queue's state."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from privacy_service.tasks.consumer import run_worker
from privacy_service.tasks.sweeper import sweep
from privacy_service.web.context import runtime


@click.command("worker")
@with_appcontext
@click.option("--workers", type=int, default=None, help="Consumer threads (PRIVACY_QUEUE_WORKERS).")
def worker(workers):
    """Run a queue consumer: exports, deletions and closures, contact lookups (Ctrl-C stops).

    Run as many as needed, on as many machines as share the queue (PRIVACY_QUEUE_URL).
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
    """Enqueue open exports, erasures and contact lookups whose task is missing."""
    rt = runtime()
    click.echo(f"{sweep(rt, rt.queue)} task(s) enqueued")


@tasks.command("status")
def tasks_status():
    """How many tasks wait on the queue, now and scheduled (retries)."""
    rt = runtime()
    huey = rt.queue.huey
    click.echo(
        f"backend {rt.queue.backend}; pending {huey.pending_count()}; "
        f"scheduled {huey.scheduled_count()}"
    )
