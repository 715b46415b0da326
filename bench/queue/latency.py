"""a) Commit -> task start: probe tasks enqueued after a commit, run by a consumer in another
process (``python -m bench.queue --consume SPEC``)."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa
from huey.consumer import Consumer
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

from bench.harness import ROOT, BenchError, bench_command, percentile
from bench.queue import REDIS_URL, SAMPLES
from privacy_service.config import Settings
from privacy_service.tasks import consumer as task_consumer
from privacy_service.tasks.queue import make_huey


def _probe_huey(spec: dict):
    settings = Settings.load(
        environ={},
        overrides={
            "instance_dir": spec["dir"],
            "queue_url": spec["url"],
            "queue_name": spec["name"],
        },
    )
    huey = make_huey(settings)

    @huey.task(name="probe")
    def probe(index: int, committed_at: float):
        huey.put(f"lat:{index}", time.time() - committed_at)

    return huey, probe


def consume_main(spec: dict) -> int:
    """The consumer child: the settings ``privacy worker`` uses, two threads."""
    huey, _ = _probe_huey(spec)
    Consumer(
        huey,
        workers=2,
        worker_type="thread",
        periodic=False,
        initial_delay=task_consumer.POLL_SECONDS,
        backoff=1.0,
        max_delay=task_consumer.POLL_SECONDS,
    ).run()
    return 0


def latency(kind: str, work: Path) -> dict:
    """Commit -> start latencies (seconds) of SAMPLES probe tasks."""
    spec = {
        "dir": str(work / kind),
        "url": REDIS_URL if kind == "redis" else "",
        "name": f"bench-{secrets.token_hex(4)}",
    }
    huey, probe = _probe_huey(spec)
    huey.flush()
    child = subprocess.Popen(
        bench_command("queue", "--consume", json.dumps(spec)),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = sa.create_engine(f"sqlite:///{work / (kind + '-producer.db')}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE work (id INTEGER PRIMARY KEY, at REAL)")
    factory = sessionmaker(engine)
    index = {"n": 0}

    @event.listens_for(factory, "after_commit")
    def _enqueue(_session):
        probe(index["n"], time.time())

    try:
        # Wait until the consumer runs tasks (imports take seconds on a loaded machine).
        deadline = time.monotonic() + 60
        probe(-1, time.time())
        while huey.get("lat:-1") is None:
            if time.monotonic() > deadline:
                raise BenchError(f"{kind}: the consumer never started")
            time.sleep(0.05)
        for i in range(SAMPLES + 10):
            index["n"] = i
            with factory() as session:
                session.execute(sa.text("INSERT INTO work (at) VALUES (:t)"), {"t": time.time()})
                session.commit()
            time.sleep(0.03)
        values, deadline = [], time.monotonic() + 30
        for i in range(10, SAMPLES + 10):  # the first ten warm up
            while (value := huey.get(f"lat:{i}")) is None:
                if time.monotonic() > deadline:
                    raise BenchError(f"{kind}: probe {i} never ran")
                time.sleep(0.01)
            values.append(value)
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
        huey.flush()
        engine.dispose()
    slowest = sorted(range(len(values)), key=values.__getitem__)[-3:]
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
        "slowest": [(i, round(values[i] * 1000)) for i in slowest],
    }
