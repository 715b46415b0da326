"""Recomputing provisional due dates once a calendar year becomes known."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.policies import Policies
from privacy_service.requests.lifecycle import TERMINAL
from privacy_service.requests.models import DataRequest


def recompute_provisional(session: Session, policies: Policies, batch: int = 500) -> int:
    """Recompute every open provisional deadline; returns how many dates changed or firmed up."""
    changed = 0
    last_id = ""
    while True:
        rows = session.scalars(
            select(DataRequest)
            .where(
                DataRequest.due_date_provisional.is_(True),
                DataRequest.status.not_in(TERMINAL),
                DataRequest.id > last_id,
            )
            .order_by(DataRequest.id)
            .limit(batch)
        ).all()
        if not rows:
            return changed
        for request in rows:
            jurisdiction = policies.requests.jurisdiction(request.jurisdiction)
            deadline = jurisdiction.due(request.received_at, policies.calendar)
            if (deadline.due_date, deadline.provisional) != (request.due_date, True):
                audit.record(
                    session,
                    "request.deadline_recomputed",
                    actor="system",
                    request_id=request.id,
                    subject_id=request.subject_id,
                    details={
                        "from": request.due_date.isoformat(),
                        "to": deadline.due_date.isoformat(),
                        "provisional": deadline.provisional,
                    },
                )
                request.due_date = deadline.due_date
                request.due_date_provisional = deadline.provisional
                changed += 1
        last_id = rows[-1].id
        session.flush()
