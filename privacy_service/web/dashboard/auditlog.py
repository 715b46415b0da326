"""The audit log page: filters (actor, action, request, dates), pages, CSV export, chain state.

The chain is verified by a scheduled job (``audit.verify``) whose outcome is stored with its time;
the page shows the last outcome and never walks the whole chain itself. Pages go by time and
sequence number (keyset, on an index per filter that leads with the filter's column and then the
time), so page 1000 costs what page 1 does, with or without dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Response, flash, redirect, request, stream_with_context, url_for

from privacy_service import audit
from privacy_service.audit import AuditEntry
from privacy_service.db import is_uuid, utcnow
from privacy_service.jobs import JOBS, run_job
from privacy_service.web.context import runtime
from privacy_service.web.dashboard import labels, page_queries, queries
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import (
    SHANGHAI,
    actor,
    bp,
    query_string,
    render,
    staff_names,
)

PAGE = 50
ACTOR_KINDS = ("system", "customer", "cli", "anonymous")


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(dt.UTC)


def _anchor(s, value: str) -> tuple | None:
    """The (time, sequence number) of the entry a page link starts from (None: no such entry).

    Links carry only the entry's sequence number; its time is looked up (primary key).
    """
    if not queries.plain_number(value):
        return None
    at = page_queries.entry_time(s, int(value))
    return None if at is None else (at, int(value))


def conditions(args) -> tuple[list, dict]:
    """SQL conditions from the page's filters, and the filters it understood (for the form)."""
    where, kept = [], {}
    who = args.get("actor", "")
    if who in ACTOR_KINDS or (who.startswith("staff:") and is_uuid(who[6:])):
        where.append(AuditEntry.actor == who)
        kept["actor"] = who
    if args.get("action") in labels.ACTIONS or (
        args.get("action", "") and len(args["action"]) <= 80 and "." in args["action"]
    ):
        where.append(AuditEntry.action == args["action"])
        kept["action"] = args["action"]
    rid = args.get("request", "").strip().lower()
    if is_uuid(rid):
        where.append(AuditEntry.request_id == rid)
        kept["request"] = rid
    elif rid and (prefix := queries.id_prefix(rid)) is not None:
        # The same range as the queue's, on the audit's request column.
        where.append(AuditEntry.request_id.in_(page_queries.request_ids_from(prefix)))
        kept["request"] = rid
    since, until = _day(args.get("from", "")), _day(args.get("to", ""))
    if since:
        where.append(AuditEntry.at >= _local_midnight(since))
        kept["from"] = since.isoformat()
    if until:
        where.append(AuditEntry.at < _local_midnight(until + dt.timedelta(days=1)))
        kept["to"] = until.isoformat()
    return where, kept


@bp.get("/audit")
def audit_log():
    """A page of the audit log, newest first, with filters and the last chain verification."""
    s = runtime().db.session
    where, kept = conditions(request.args)
    before, after = (
        _anchor(s, request.args.get("before", "")),
        _anchor(s, request.args.get("after", "")),
    )
    entries, newer, older = page_queries.audit_page(s, where, before, after, PAGE)
    check = page_queries.last_audit_check(s)
    names = staff_names()
    return render(
        "dashboard/audit.html",
        entries=entries,
        older=older and bool(entries),
        newer=newer and bool(entries),
        total_known=None,
        check=check,
        actions=sorted(labels.ACTIONS.items(), key=lambda kv: kv[0]),
        actors=[(k, labels.actor(k, names)) for k in ACTOR_KINDS]
        + [(f"staff:{sid}", email) for sid, email in sorted(names.items(), key=lambda x: x[1])],
        kept=kept,
        qs=lambda **changes: query_string(kept, **changes),
    )


@bp.get("/audit.csv")
def audit_csv():
    """The filtered log as CSV, streamed (every matching entry, oldest first by time)."""
    rt = runtime()
    where, kept = conditions(request.args)
    names = staff_names()
    s = rt.db.session
    audit.record(
        s,
        "audit.exported",
        actor=actor(),
        details={"filters": ",".join(sorted(kept))},
    )
    s.commit()

    def rows():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "seq",
                "at",
                "actor",
                "action",
                "action_label",
                "request_id",
                "fields",
                "details",
                "hash",
            ]
        )
        yield "\ufeff" + out.getvalue()
        session = rt.db.new_session()
        try:
            # Oldest first by (time, sequence number): each batch is a range of the filter's
            # index, however far into the log.
            for batch in page_queries.audit_batches(session, where):
                out.seek(0)
                out.truncate()
                for e in batch:
                    writer.writerow(
                        [
                            e.seq,
                            e.at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                            labels.actor(e.actor, names),
                            e.action,
                            labels.action(e.action),
                            e.request_id or "",
                            " ".join(e.fields or []),
                            labels.details(e.details, names),
                            e.hash,
                        ]
                    )
                yield out.getvalue()
        finally:
            session.close()

    response = Response(stream_with_context(rows()), mimetype="text/csv")
    stamp = utcnow().astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/audit/verify")
@roles("admin", "auditor")
def audit_verify_now():
    """Run the chain verification now (it reads every entry: minutes on a large log)."""
    rt = runtime()
    spec = next(s for s in JOBS if s.id == "audit.verify")
    run_job(rt, spec)
    flash("已校验审计链 Audit chain verified")
    return redirect(url_for("dashboard.audit_log"), code=303)
