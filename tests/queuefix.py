"""The task queue in tests: its backends, queue runs by hand, the environment of `privacy` runs.

``queue_settings`` (a fixture of this pytest plugin) gives each test one queue backend.
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from appfix import TEST_SECRETS


def worker_env(app, tmp_path, **extra) -> dict:
    """Environment for a ``privacy`` subprocess on the same databases and keys as ``app``."""
    settings = app.extensions["privacy"].settings
    return {
        **os.environ,
        "PRIVACY_DATABASE_URL": settings.database_url,
        "PRIVACY_SHOP_DATABASE_URL": settings.shop_database_url,
        "PRIVACY_INSTANCE_DIR": str(tmp_path / "instance"),
        # The worker's mail reaches the test's inbox: the SMTP server files messages by sender.
        "PRIVACY_MAIL_FROM": settings.mail_from,
        **{f"PRIVACY_{k.upper()}": v for k, v in TEST_SECRETS.items()},
        **{f"PRIVACY_{k.upper()}": str(v) for k, v in extra.items()},
    }


def run_queue(rt) -> int:
    """Run every task waiting on the app's queue now, in this thread (a consumer's loop body)."""
    huey, ran = rt.queue.huey, 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        ran += 1
    return ran


def run_at_once(rt, spec, times: int = 2) -> list:
    """Run scheduled job ``spec`` from ``times`` threads at the same instant (as schedulers in
    several processes would); the results of ``jobs.run_job`` (None: the lease was held)."""
    import threading

    from privacy_service import jobs

    results, barrier = [], threading.Barrier(times)

    def scheduler():
        barrier.wait()
        results.append(jobs.run_job(rt, spec))

    threads = [threading.Thread(target=scheduler) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# The task queue's backends.
REDIS_URL = "redis://127.0.0.1:6379/2"


@pytest.fixture(params=["sqlite", "redis"])
def queue_settings(request):
    """Queue settings for one backend; Redis gets a queue name of its own (parallel runs)."""
    if request.param == "sqlite":
        yield {"queue_name": "privacy"}
        return
    redis.Redis.from_url(REDIS_URL).ping()  # an unreachable Redis fails the test, never skips
    name = f"privacy-test-{uuid.uuid4().hex[:12]}"
    yield {"queue_url": REDIS_URL, "queue_name": name}
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"huey.*{name}*"):
        client.delete(key)
