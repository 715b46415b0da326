"""Who runs a long job, and whether that run is still alive.

Retention runs and key rotations record a ``holder`` (host, process id and a token unique to
the process's start) and a ``heartbeat_at`` refreshed with every committed batch. A run that
stays ``running`` is abandoned when its heartbeat is older than ``STALE_SECONDS``, or at once
when its holder is a process on this host that is gone (``kill -9``, a crash, a reboot), or
is this very process but no thread of it is executing the run (an exception escaped).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading

from privacy_service.db import utcnow

HOST = socket.gethostname().replace(":", "-")
# Longer than any batch can take: one batch is one short transaction.
STALE_SECONDS = 300

_active: set[str] = set()
_lock = threading.Lock()
_names: dict[int, str] = {}


def holder() -> str:
    """The holder name of the current process (a forked child gets its own)."""
    pid = os.getpid()
    if pid not in _names:
        _names[pid] = f"{HOST}:{pid}:{secrets.token_hex(4)}"
    return _names[pid]


def started(run_id: str) -> None:
    """Note that this process is executing ``run_id``."""
    with _lock:
        _active.add(run_id)


def ended(run_id: str) -> None:
    """Note that this process no longer executes ``run_id``."""
    with _lock:
        _active.discard(run_id)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def abandoned(
    run_id: str,
    run_holder: str | None,
    heartbeat_at: dt.datetime | None,
    *,
    now: dt.datetime | None = None,
    stale_seconds: float = STALE_SECONDS,
) -> bool:
    """True when the run recorded as ``running`` has nobody executing it any more."""
    now = now or utcnow()
    if heartbeat_at is None or heartbeat_at < now - dt.timedelta(seconds=stale_seconds):
        return True
    if not run_holder:
        return False
    if run_holder == holder():
        with _lock:
            return run_id not in _active
    host, _, rest = run_holder.partition(":")
    pid = rest.partition(":")[0]
    if host == HOST and pid.isdigit():
        if int(pid) == os.getpid():
            return True  # our pid, another start token: an earlier life of this container
        # A live pid under another start token may be a reused pid: the heartbeat decides.
        return not _process_exists(int(pid))
    return False
