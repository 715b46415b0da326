"""The crash matrix's killer: starts the real ``privacy`` command and SIGKILLs it at random points.

``CRASH_KILLS`` kills per scenario and backend (2 in the suite; ``make soak`` raises it);
``CRASH_SEED`` replays a run's kill points (each scenario draws from its own generator, seeded
with ``CRASH_SEED`` and its name, so a scenario replays alone too).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from pathlib import Path

import forkserver
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privacy_service.audit import AuditEntry
from privacy_service.batches import WorkBatch
from privacy_service.db import make_engine
from privacy_service.demo import shop_schema as shop

KILLS = int(os.environ.get("CRASH_KILLS", "2"))
SCALE = max(1, KILLS // 2)  # more kills need more work to land in
SEED = int(os.environ.get("CRASH_SEED", str(random.SystemRandom().randrange(10**6))))
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
be = shop.browsing_events


# When an "early" kill lands, in seconds after the start: within the start-up, the planning and
# the first claims. A forked process is ready in ~0.3 s (a fresh interpreter in ~2 s); a second
# after a fork, a small scenario can be all but done, leaving nothing for the next kills.
EARLY = (0.2, 1.0) if forkserver.FRESH else (0.0, 0.3)


class Crasher:
    """Starts the real ``privacy`` CLI and kills it (SIGKILL) at random points, then lets it end.

    The processes come from ``forkserver`` (each a process of its own, started without
    importing the service again).
    """

    def __init__(self, name: str, env: dict, database_url: str, folder: Path):
        self.name, self.env, self.folder = name, env, folder
        self.rng = random.Random(f"{SEED}-{name}")  # kill points, replayable
        # Watching reads through its own engine with plain BEGIN: on SQLite, the app's
        # BEGIN IMMEDIATE would take the write lock from the process under test at every poll.
        self.watch_engine = make_engine(database_url, immediate=False)
        self.session = Session(self.watch_engine)
        self.kills: list[str] = []
        self.finished: list[str] = []

    def close(self) -> None:
        self.session.close()
        self.watch_engine.dispose()

    def report(self) -> str:
        """What to print: the seed to replay, where the kills landed, the last runs' times."""
        return (
            f"{self.name}: CRASH_SEED={SEED} CRASH_KILLS={KILLS}; kills ({len(self.kills)}): "
            f"{', '.join(self.kills)}; last runs: {', '.join(self.finished)}"
        )

    def _poll(self, check) -> int:
        """One reading by the watching session (ended at once, so it holds nothing)."""
        try:
            return int(check(self.session) or 0)
        finally:
            self.session.rollback()  # end the read: never hold a snapshot or a lock

    def crash(self, args: list[str], progress, total: int | None, **kw) -> None:
        """Kill ``args`` ``KILLS`` times at random points of its work, then let it end.

        ``progress(session)`` counts units of work done so far (batches, keys) out of about
        ``total``: each kill lands a random number of units further, leaving work for the next
        kills; a quarter of them land early instead (start-up, planning, claiming). ``window``
        adds a random delay after the unit is seen. Without ``total`` (exports, which start over
        each time) the next unit is the moment to wait for. ``pause`` waits after each kill
        (for the dead process's leases to run out).
        """
        name, kills, tries = self.name, 0, 0
        while kills < KILLS:
            tries += 1
            assert tries <= 3 * KILLS, f"{name}: the kills keep missing"
            done = self._poll(progress)
            left = 1 if total is None else total - done
            assert left > KILLS - kills or total is None, (
                f"{name}: too little left ({done}/{total})"
            )
            proc = forkserver.start(args, self.env, folder=self.folder)
            if self.rng.random() < 0.25:
                time.sleep(self.rng.uniform(*EARLY))
                where = "early"
            else:
                target = done + self.rng.randint(1, max(1, left // (KILLS - kills + 1)))
                deadline = time.monotonic() + 60
                while (now := self._poll(progress)) < target and proc.poll() is None:
                    if time.monotonic() > deadline:
                        proc.kill()
                        pytest.fail(f"{name}: no progress: {proc.stderr()[-3000:]}")
                    time.sleep(0.01)
                time.sleep(self.rng.uniform(0, kw.get("window", 0)))
                where = f"{now}/{total}"
            if proc.poll() is not None:
                assert proc.returncode == 0, (name, proc.stderr()[-2000:])
                continue  # it finished before the kill: not a kill, try again
            proc.kill()
            proc.wait()
            kills += 1
            self.kills.append(f"{name}@{where}")
            time.sleep(kw.get("pause", 0))

    def finish(self, *args: str) -> str:
        """Run to the end, unkilled; returns its output."""
        started = time.monotonic()
        done = forkserver.run(args, self.env, folder=self.folder)
        assert done.returncode == 0, (args, done.stdout()[-2000:], done.stderr()[-2000:])
        self.finished.append(f"{' '.join(args[:2])} {time.monotonic() - started:.1f} s")
        return done.stdout()


def audits(session, action, request_id=None) -> list[AuditEntry]:
    """The audit entries of ``action`` (about ``request_id``), in order."""
    query = select(AuditEntry).where(AuditEntry.action == action)
    if request_id:
        query = query.where(AuditEntry.request_id == request_id)
    return list(session.scalars(query.order_by(AuditEntry.seq)))


def completions(session, rid) -> int:
    """How many times request ``rid`` was recorded as completed."""
    return sum(
        1
        for e in audits(session, "request.status_changed", rid)
        if e.details.get("to") == "completed"
    )


def batches(session, owner_id=None, owner_kind=None) -> int:
    """Work batches recorded for ``owner_id`` (or of ``owner_kind``)."""
    query = select(func.count()).select_from(WorkBatch)
    if owner_id:
        query = query.where(WorkBatch.owner_id == owner_id)
    if owner_kind:
        query = query.where(WorkBatch.owner_kind == owner_kind)
    return session.scalar(query)


def email_of(shop_db, customer_id) -> str:
    """The shop's e-mail address of a customer."""
    with shop_db.connect() as conn:
        return conn.execute(
            select(shop.customers.c.email).where(shop.customers.c.id == customer_id)
        ).scalar()
