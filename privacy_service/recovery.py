"""Closing what a dead process left ``running``: purge runs and key rotations.

Run when a worker or a scheduler starts, every few minutes as a job, and before each purge or
rotation. Erasures and exports need no such pass: their claims expire, and the next claimant
resumes them (``retention.erasure`` settles the batches left open and audits the resumption).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from privacy_service.keys.rotation import recover_abandoned as rotations
from retention.engine import recover_abandoned as purges

log = logging.getLogger(__name__)


def recover_abandoned(session: Session, collector) -> dict[str, int]:
    """Close abandoned runs as ``interrupted`` (audited); returns how many of each kind."""
    found = {
        "purge_runs": len(purges(collector, session)),
        "key_rotations": len(rotations(session)),
    }
    if any(found.values()):
        log.warning("interrupted runs closed", extra=found)
    return found


def recover_at_start(rt) -> None:
    """The start-up pass; a database that is not reachable yet must not stop the start."""
    session = rt.db.new_session()
    try:
        recover_abandoned(session, rt.collector())
    except Exception as exc:
        session.rollback()
        log.warning("start-up recovery skipped", extra={"error_type": type(exc).__name__})
    finally:
        session.close()
