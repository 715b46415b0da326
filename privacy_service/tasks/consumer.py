"""Running the queue's consumers: threads inside the web process, or a process of their own.

Each lane has its consumer: the bulk lane (exports, erasures) and the customer lane (contact
lookups, notices; ``PRIVACY_DELIVERY_THREADS`` threads), so a code is never stuck behind an
export. ``make run`` keeps the web process free of both and runs ``privacy worker`` beside it;
``PRIVACY_QUEUE_CONSUMER`` starts both lanes in the web process, ``PRIVACY_NOTICE_CONSUMER``
the customer lane only (tests). In production ``privacy worker`` runs both, as many processes as
needed.
"""

from __future__ import annotations

import logging
import threading

from huey.consumer import Consumer

from privacy_service.tasks.sweeper import sweep

log = logging.getLogger(__name__)
# A SQLite queue is polled: every 50 ms at most while idle (a Redis queue blocks instead).
POLL_SECONDS = 0.05


class EmbeddedConsumer(Consumer):
    """A consumer that leaves the host process's signals alone (gunicorn owns them)."""

    def _set_signal_handlers(self):
        pass


def _consumer(kind, huey, workers: int, **extra) -> Consumer:
    return kind(
        huey,
        workers=workers,
        worker_type="thread",
        periodic=False,  # scheduled jobs belong to the scheduler (privacy_service.jobs)
        initial_delay=POLL_SECONDS,
        backoff=1.0,
        max_delay=POLL_SECONDS,
        check_worker_health=True,
        **extra,
    )


def start_in_process(rt, queue, *, bulk: bool, fast: bool) -> list[Consumer]:
    """Start consumer threads for the lanes asked here (with the bulk lane, a sweep too)."""
    started = []
    if fast:
        started.append(_consumer(EmbeddedConsumer, queue.fast, rt.settings.delivery_threads))
    if bulk:
        started.append(_consumer(EmbeddedConsumer, queue.huey, rt.settings.queue_workers))
    for consumer in started:
        consumer.start()
    if bulk:  # a web process that runs everything sweeps like a worker (not the tests' lane)
        threading.Thread(target=_safe_sweep, args=(rt, queue), daemon=True).start()
    log.info(
        "queue consumer started",
        extra={"bulk": bulk, "customer_lane": fast, "backend": queue.backend},
    )
    return started


class LeadingConsumer(Consumer):
    """The bulk lane's consumer in ``privacy worker``: its stop tells the customer lane too.

    Both lanes are told before either is joined: a Redis lane's threads notice the flag only
    when their blocking pop times out (1 s), so stopping the lanes one after the other took a
    second more.
    """

    def __init__(self, *args, follower: Consumer, **kwargs):
        super().__init__(*args, **kwargs)
        self.follower = follower

    def stop(self, graceful=False):
        """Flag the customer lane, then stop this lane as Huey does (joined by ``run_worker``)."""
        self.follower.stop_flag.set()
        super().stop(graceful=graceful)


def run_worker(rt, queue, workers: int) -> None:
    """Run both lanes' consumers until SIGTERM or SIGINT (``privacy worker``).

    The customer lane runs in threads beside the bulk lane's consumer, which owns the signals.
    """
    _safe_sweep(rt, queue)  # tasks a dead worker took with it come back now
    fast = _consumer(EmbeddedConsumer, queue.fast, rt.settings.delivery_threads)
    fast.start()
    try:
        # SIGTERM (systemd, Kubernetes) lets the running task finish; SIGINT stops at once.
        _consumer(LeadingConsumer, queue.huey, workers, graceful_signal="TERM", follower=fast).run()
    finally:
        fast.stop(graceful=True)


def _safe_sweep(rt, queue) -> None:
    try:
        sweep(rt, queue)
    except Exception as exc:  # the scheduled sweep will try again
        log.warning("sweep failed", extra={"error_type": type(exc).__name__})
