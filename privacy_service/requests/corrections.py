"""Carrying out an approved correction across the sources, until every source is done.

Approval writes the corrections at once (``datamap.correct.apply``). Every source that took
them is recorded done; one that failed is recorded failed and the request stays in progress,
leased for ``RETRY_SECONDS``, after which the erasure worker (``retention.processor``), which
already claims in-progress work one request at a time, runs this again for the sources left.
The customer is told once, when every source is done or marked not applicable by an operator,
and the notice names the systems that were not changed. No Flask imports; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from privacy_service import notices
from privacy_service.datamap import correct, steps
from privacy_service.db import utcnow
from privacy_service.notices import outcomes
from privacy_service.requests import lifecycle

log = logging.getLogger(__name__)
RETRY_SECONDS = 60  # a failed source is tried again after this (the worker runs every 30 s)
LEASE_SECONDS = 300  # while a pass runs, the worker leaves the request alone


def carry_out(session: Session, collector, request, subject, *, actor: str, first: bool) -> bool:
    """One pass over the sources not done yet; True when the correction is complete.

    ``first`` is the approval's own pass (a record that is not the customer's is a 422 then).
    """
    request.claim_until = utcnow() + dt.timedelta(seconds=LEASE_SECONDS)
    outcome = correct.apply(collector, session, request, subject, actor=actor, first=first)
    if outcome.failed:
        request.claim_until = utcnow() + dt.timedelta(seconds=RETRY_SECONDS)
        log.warning(
            "correction sources failed; will retry",
            extra={
                "request_id": request.id,
                "sources": sorted(outcome.failed),
                "error_types": sorted(set(outcome.failed.values())),
            },
        )
        return False
    request.claim_until = None
    lifecycle.transition(session, request, lifecycle.COMPLETED, actor=actor)
    datamap = collector.datamap
    skipped = steps.not_applicable(session, request.id, "correction")
    lang = request.language if request.language in ("zh-CN", "en") else "zh-CN"
    # What changed, as the customer typed it but partly hidden (they know the value).
    types = {(c, f): found[0][2].type for (c, f), found in datamap.correctable().items()}
    notices.queue(
        session,
        request,
        "correction_done",
        changes=[
            {
                "field": c["field"],
                "value": outcomes.masked(
                    types.get((c["category"], c["field"]), "text"), c["value"]
                ),
            }
            for c in request.corrections or []
        ],
        remained=[
            datamap.sources[name].title.get(lang, name) if name in datamap.sources else name
            for name in skipped
        ],
    )
    return True
