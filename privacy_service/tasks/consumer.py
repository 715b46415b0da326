"""Running the queue's consumer: threads inside the web process, or a process of its own.

``make run`` keeps one process: the web app starts consumer threads (``PRIVACY_QUEUE_CONSUMER``).
In production ``privacy worker`` runs the consumer alone, as many processes as needed.
"""

from __future__ import annotations

import logging
import threading

from huey.consumer import Consumer

log = logging.getLogger(__name__)
# A SQLite queue is polled: every 50 ms at most while idle (a Redis queue blocks instead).
POLL_SECONDS = 0.05


class EmbeddedConsumer(Consumer):
    """A consumer that leaves the host process's signals alone (gunicorn owns them)."""

    def _set_signal_handlers(self):
        pass


def _consumer(kind, queue, workers: int, **extra) -> Consumer:
    return kind(
        queue.huey,
        workers=workers,
        worker_type="thread",
        periodic=False,  # scheduled jobs belong to the scheduler (privacy_service.jobs)
        initial_delay=POLL_SECONDS,
        backoff=1.0,
        max_delay=POLL_SECONDS,
        check_worker_health=True,
        **extra,
    )


def start_in_process(rt, queue, workers: int) -> Consumer:
    """Start consumer threads in this process; a sweep runs first, in the background."""
    from privacy_service.tasks.sweeper import sweep

    consumer = _consumer(EmbeddedConsumer, queue, workers)
    consumer.start()
    threading.Thread(target=_safe_sweep, args=(sweep, rt, queue), daemon=True).start()
    log.info("queue consumer started", extra={"workers": workers, "backend": queue.backend})
    return consumer


def run_worker(rt, queue, workers: int) -> None:
    """Run a consumer in the foreground until SIGTERM or SIGINT (``privacy worker``)."""
    from privacy_service.tasks.sweeper import sweep

    _safe_sweep(sweep, rt, queue)  # tasks a dead worker took with it come back now
    # SIGTERM (systemd, Kubernetes) lets the running task finish; SIGINT stops at once.
    _consumer(Consumer, queue, workers, graceful_signal="TERM").run()


def _safe_sweep(sweep, rt, queue) -> None:
    try:
        sweep(rt, queue)
    except Exception as exc:  # the scheduled sweep will try again
        log.warning("sweep failed", extra={"error_type": type(exc).__name__})
