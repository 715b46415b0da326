"""The task queue of one runtime: a Huey instance from settings, and our tasks registered on it.

``PRIVACY_QUEUE_URL`` chooses the store: empty (default) is a SQLite file under ``instance/``
(a real, persistent queue that needs no server); ``redis://...`` is Redis, shared by workers on
several machines. Every process of one deployment must use the same URL and queue name.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from privacy_service.config import ConfigError
from privacy_service.tasks import work
from privacy_service.tasks.kinds import FAST, KINDS

log = logging.getLogger(__name__)

PROGRESS = "progress:"
FAST_LANE = "notices"
PING = "readyz:"


def make_huey(settings, lane: str = "") -> Huey:
    """A Huey instance on the store ``settings.queue_url`` names (results are not kept).

    ``lane`` suffixes the queue's name: the customer lane (``notices``) shares the store.
    """
    url = settings.queue_url
    name = f"{settings.queue_name}-{lane}" if lane else settings.queue_name
    if not url or url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :] if url else Path(settings.instance_dir) / "queue.db")
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name=name, filename=str(path), results=False, utc=True, timeout=30)
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Blocking pops: a worker starts a task as soon as it is pushed, without polling.
        return RedisHuey(name=name, url=url, results=False, utc=True, blocking=True)
    raise ConfigError("PRIVACY_QUEUE_URL must be empty, sqlite:///<file> or redis://...")


class TaskQueue:
    """Our tasks on one Huey instance, bound to a runtime (the worker's composition root)."""

    def __init__(self, rt, huey: Huey | None = None):
        self.rt = rt
        self.consumers = []  # consumer threads in this process, if any
        self.huey = huey or make_huey(rt.settings)  # the bulk lane: exports, erasures
        self.fast = make_huey(rt.settings, FAST_LANE)  # lookups and notices
        retry = rt.settings.task_retry_seconds
        self.tasks = {
            kind: self.lane(kind).task(name=f"privacy.{kind}", retry_delay=retry)(
                _bound(body, rt, self)
            )
            for kind, body in work.BODIES.items()
        }

    def lane(self, kind: str) -> Huey:
        """The Huey instance tasks of ``kind`` go on."""
        return self.fast if kind in FAST else self.huey

    @property
    def backend(self) -> str:
        """``sqlite`` or ``redis``."""
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"

    def enqueue(self, kind: str, request_id: str, delay: float = 0) -> None:
        """Put one task on the queue (at once, or after ``delay`` seconds)."""
        task = self.tasks[kind]
        if delay > 0:
            task.schedule(args=(request_id,), delay=delay)
        else:
            task(request_id)

    def waiting(self) -> set[tuple[str, str]]:
        """(kind, request id) of every task queued or scheduled and not yet started."""
        found = set()
        tasks = [*self.huey.pending(), *self.huey.scheduled()]
        for task in [*tasks, *self.fast.pending(), *self.fast.scheduled()]:
            kind = type(task).__name__.removeprefix("privacy.")
            if kind in KINDS and task.args:
                found.add((kind, task.args[0]))
        return found

    def set_progress(self, request_id: str, done: int) -> None:
        """Record that a running export has written ``done`` categories (overwrites)."""
        self.huey.put(PROGRESS + request_id, done)

    def progress(self, request_id: str) -> int | None:
        """Categories a running export has written, if it reported any."""
        return self.huey.get(PROGRESS + request_id, peek=True)

    def clear_progress(self, request_id: str) -> None:
        """Forget a finished export's count."""
        self.huey.get(PROGRESS + request_id)  # a read that removes

    def ping(self) -> None:
        """Raise unless the queue's store takes a write and reads it back (both lanes share it)."""
        key = PING + uuid.uuid4().hex  # probes running at once do not meet
        self.huey.put(key, 1)
        if self.huey.get(key) != 1:  # a read that removes
            raise ConnectionError("the queue's store did not keep a value")

    def stop(self) -> None:
        """Stop this process's consumer threads, letting a running task finish."""
        # Every lane is told first, then each is joined: a Redis worker thread notices the flag
        # only when its blocking pop times out (1 s), so stopping lanes one by one added up.
        for consumer in self.consumers:
            consumer.stop_flag.set()
        for consumer in self.consumers:
            consumer.stop(graceful=True)
        self.consumers = []

    def flush(self) -> None:
        """Drop every queued task (tests and benchmarks)."""
        self.huey.flush()
        self.fast.flush()


def _bound(body, rt, queue):
    def run(request_id: str):
        return body(rt, queue, request_id)

    run.__name__ = body.__name__
    run.__doc__ = body.__doc__
    return run
