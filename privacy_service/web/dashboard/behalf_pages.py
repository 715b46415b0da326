"""The request page's part for requests made on someone else's behalf.

The team sees the relationship, the requester (masked until an audited reveal), the documents
(opened one at a time, audited) and records its check; approval waits for an accepted check
(``requests.behalf.require_accepted``). What the page shows of the requester is in
``requester.py`` (the request page reads it too).
"""

from __future__ import annotations

from flask import Response, flash, request

from privacy_service.errors import Problem
from privacy_service.requests import behalf
from privacy_service.requests.models import DataRequest
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import (
    actor,
    audit_request,
    bp,
    message,
    render,
    to_request,
    with_request,
)
from privacy_service.web.dashboard.request_page import page_context
from privacy_service.web.dashboard.requester import requester_context


@bp.post("/requests/<uuid:request_id>/requester/reveal")
@roles("agent", "admin")
@with_request
def reveal_requester(rt, r: DataRequest):
    """Show the requester's name and contacts and the check's notes whole (audited)."""
    s = rt.db.session
    audit_request(
        s,
        r,
        "request.requester_revealed",
        fields=["requester_name", "requester_contact", "account_contact", "check_note"],
    )
    s.commit()
    return render(
        "dashboard/request.html", **page_context(r, **requester_context(s, r, revealed=True))
    )


@bp.get("/requests/<uuid:request_id>/evidence/<evidence_id>")
@roles("agent", "admin")
@with_request
def evidence_file(rt, r: DataRequest, evidence_id: str):
    """One document, as a download (audited; never shown inline: it is not our content)."""
    s = rt.db.session
    doc = next((e for e in behalf.evidence_of(s, r.id) if e.id == evidence_id), None)
    if doc is None or doc.deleted_at is not None:
        return message("没有此材料。 No such document.", 404)
    content = doc.content()
    audit_request(
        s, r, "request.evidence_viewed", details={"evidence_id": doc.id, "kind": doc.kind}
    )
    s.commit()
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[
        doc.content_type
    ]
    return Response(
        content,
        mimetype=doc.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{doc.kind}.{extension}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@bp.post("/requests/<uuid:request_id>/requester/check")
@roles("agent", "admin")
@with_request
def check_requester(rt, r: DataRequest):
    """Record the team's check of the requester's relationship: accepted or not, how, what."""
    s = rt.db.session
    form = {k: request.form.get(k, "") for k in ("outcome", "method", "note")}
    try:
        behalf.record_check(
            s,
            r,
            outcome=form["outcome"],
            method=form["method"],
            note=form["note"][:5000],
            actor=actor(),
        )
        s.commit()
    except Problem as exc:
        s.rollback()
        if exc.status != 422:
            return message(exc.detail, exc.status)
        errors = {
            "check": "请选择结果和核实方式，并写明核实了什么。 "
            "Choose the outcome and how it was checked, and say what was checked."
        }
        return render(
            "dashboard/request.html", 422, **page_context(r, errors=errors, check_form=form)
        )
    flash("已记录核实结果 Check recorded")
    return to_request(r)
