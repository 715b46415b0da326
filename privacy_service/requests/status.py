"""The customer's view of a request: status, working days left, export progress, sources.

What the API (``GET /api/v1/requests/{id}``) and the customer's pages show; read-only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.orm import object_session

from exports.assemble import plan_categories
from privacy_service.calendar import receipt_day
from privacy_service.datamap import steps
from privacy_service.db import utcnow
from privacy_service.policies.recipients import RIGHTS, shown
from privacy_service.requests import behalf, lifecycle
from privacy_service.requests.models import DataRequest, ExportArchive

if TYPE_CHECKING:
    from privacy_service.runtime import Runtime


def status_view(request: DataRequest, rt: Runtime, now: dt.datetime | None = None) -> dict:
    """The customer's view of a request, with working days left on the policy's calendar."""
    today = receipt_day(now or utcnow())
    shows_account = request.on_behalf is None or request.status in (
        lifecycle.IN_PROGRESS,
        lifecycle.COOLING_OFF,
        lifecycle.COMPLETED,
    )
    return {
        "id": request.id,
        "type": request.type,
        "status": request.status,
        "jurisdiction": request.jurisdiction,
        "categories": request.categories,
        "received_at": request.received_at,
        "due_date": request.due_date,
        "due_date_provisional": request.due_date_provisional,
        "status_changed_at": request.status_changed_at,
        "verified_at": request.verified_at,
        "closed_at": request.closed_at,
        # Only while the request is open: a closed request has no days left to count.
        "working_days_left": None
        if request.status in lifecycle.TERMINAL
        else rt.policies.calendar.working_days_between(today, request.due_date),
        "overdue": request.status not in lifecycle.TERMINAL and today > request.due_date,
        "can_cancel": request.status in lifecycle.CUSTOMER_CANCELLABLE,
        "reasons": request.reasons or [],
        "export": _export_view(request),
        "progress": _progress_view(request, rt),
        "cooling_off_until": request.cooling_off_until,
        "receipt": request.receipt,
        # For someone else, the holder's accounts are shown once the team accepted the evidence.
        "accounts": (request.accounts or []) if shows_account else [],
        "sources": _source_steps(request) if shows_account else [],
        "on_behalf": _on_behalf_view(request),
        "recipients": _recipients(request, rt),
        "recipients_rights": RIGHTS,
    }


def _on_behalf_view(request: DataRequest) -> dict | None:
    session = object_session(request)
    requester = behalf.requester_of(session, request) if session is not None else None
    if requester is None:
        return None
    return {
        "relationship": requester.relationship,
        "evidence_status": requester.evidence_status,
        "evidence_kinds": list(behalf.RELATIONSHIPS[requester.relationship]["evidence"]),
        "evidence": [
            {
                "id": e.id,
                "kind": e.kind,
                "uploaded_at": e.uploaded_at,
                "deleted": bool(e.deleted_at),
            }
            for e in behalf.evidence_of(session, request.id)
        ],
    }


def _recipients(request: DataRequest, rt: Runtime) -> list[dict]:
    """Who receives the categories of an access request (PIPL Art. 39), for the pages and API."""
    if request.type != "access":
        return []
    categories = rt.policies.categories
    names = {code: c.name for code, c in categories.items()}
    return shown(rt.policies.recipients, names, set(request.categories or names))


def _source_steps(request: DataRequest) -> list[dict]:
    session = object_session(request)
    return steps.summary(session, request.id) if session is not None else []


def _progress_view(request: DataRequest, rt: Runtime) -> dict | None:
    """Where the export's build stands: queued, building N of M categories, ready.

    The count of a running build lives in the task queue's store (``TaskQueue.progress``), not
    in the service database: the build writes it between categories without touching a
    transaction of its own.
    """
    archive = request.export_archive
    if archive is None:
        return None
    total = len(plan_categories(rt.policies, request.categories))
    done = 0
    if archive.status == ExportArchive.READY:
        done = total
    elif archive.status == ExportArchive.BUILDING and rt.queue is not None:
        done = min(total, rt.queue.progress(request.id) or 0)
    return {"state": archive.status, "categories_done": done, "categories_total": total}


def _export_view(request: DataRequest) -> dict | None:
    archive = request.export_archive
    if archive is None:
        return None
    view = {"status": archive.status}
    if archive.status == ExportArchive.READY:
        view.update(
            expires_at=archive.expires_at,
            size=archive.size,
            downloads_left=max(0, archive.max_downloads - archive.downloads),
        )
    return view
