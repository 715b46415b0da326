"""Erasing a subject's data from the source systems: plan first, then execute step by step.

The plan is fixed before anything changes: for each table of each chosen category it counts the
rows that will be deleted, anonymised, or kept (restricted) under a legal obligation or hold.
It is stored on the request, so the customer's receipt tells exactly what happened, and so a
process killed half-way resumes at the step it was on. Every step is idempotent (deleting or
anonymising rows that are already gone or anonymised changes nothing) and runs in bounded
batches, one short transaction each, whose count is journalled with it. No Flask imports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import delete, not_, true, update
from sqlalchemy.orm import Session

from privacy_service import audit, batches
from privacy_service.datamap import steps
from privacy_service.datamap.collect import matches
from privacy_service.subjects.history import CorrectionRecord
from privacy_service.subjects.vault_tables import VAULT_TABLES
from retention import http_erasure
from retention.plan import SourcesFailed, kept_clause
from retention.rows import anonymised

BATCH = 5000


def execute(
    collector,
    policies,
    session: Session,
    request,
    subject,
    *,
    batch: int = BATCH,
    progress: Callable[[dict, int], None] | None = None,
    heartbeat: Callable[[Session], None] | None = None,
) -> None:
    """Run the request's plan from where it stopped; commits after every batch and step.

    Each source is its own step record (``datamap/steps.py``): a source that fails is recorded
    with the error type and skipped for this pass, the other sources carry on, and
    ``SourcesFailed`` tells the caller to retry later. A source an operator marked not
    applicable is skipped. Each batch's count is journalled with the batch
    (``privacy_service.batches``); a resumed erasure first settles the batches its dead
    predecessor left open, and says so in the audit log. ``heartbeat`` runs in every batch's
    transaction (the processor extends its claim).
    """
    action = "closure" if request.erasure_plan.get("closing") else "deletion"
    _resume(collector, session, request, subject, dict(request.erasure_plan))
    done_flags = any("done" in step for step in request.erasure_plan["steps"])
    failures: dict[str, str] = {}
    rows: dict[str, int] = {}
    begun: set[str] = set()
    for index in range(len(request.erasure_plan["steps"])):
        current = request.erasure_plan
        step = current["steps"][index]
        name = step["source"]
        finished = step.get("done") or (not done_flags and index < current["done"])
        rows[name] = rows.get(name, 0) + (step["rows"] if step["action"] != "keep" else 0)
        if finished or name in failures:
            continue
        if steps.settled(session, request.id, name, action):
            continue  # marked not applicable by an operator
        if name not in begun:
            begun.add(name)
            steps.started(session, request.id, name, action)
        try:
            changed = _run_step(
                collector,
                policies,
                session,
                request,
                subject,
                index,
                step,
                now_of(current),
                batch,
                progress,
                heartbeat,
            )
        except Exception as exc:  # a source down: record it, keep going with the others
            session.rollback()
            failures[name] = type(exc).__name__
            steps.failed(session, request.id, name, action, exc)
            session.commit()
            continue
        if changed is None:  # work journalled batch by batch
            settled = batches.totals(session, "erasure", request.id)
            changed = sum(n for (s, _t), n in settled.items() if s == str(index))
        new_steps = list(current["steps"])
        new_steps[index] = {**step, "done": True}
        request.erasure_plan = {**current, "steps": new_steps, "done": current["done"] + 1}
        audit.record(
            session,
            "erasure.step_done",
            actor="worker",
            request_id=request.id,
            subject_id=subject.id,
            details={
                **{k: step[k] for k in ("category", "table", "action", "rows")},
                "rows_changed": changed,
            },
        )
        session.commit()
    for name, count in rows.items():
        if name not in failures and not steps.settled(session, request.id, name, action):
            steps.finished(session, request.id, name, action, count)
    session.commit()
    if failures:
        raise SourcesFailed(failures)


def now_of(plan: dict) -> dt.datetime:
    """The moment the plan was made (kept rows are judged as of then)."""
    return dt.datetime.fromisoformat(plan["now"])


def _resume(collector, session, request, subject, current) -> None:
    """Settle what a killed run of this erasure left open, and record that it was interrupted."""
    open_batches = batches.pending(session, "erasure", request.id)
    recovered = sum(batches.recover(session, collector, b) for b in open_batches)
    started_before = bool(open_batches) or bool(batches.totals(session, "erasure", request.id))
    if current["done"] or started_before:
        audit.record(
            session,
            "erasure.resumed",
            actor="worker",
            request_id=request.id,
            subject_id=subject.id,
            details={
                "steps_done": current["done"],
                "steps": len(current["steps"]),
                "recovered_rows": recovered,
            },
        )
    session.commit()


def _run_step(
    collector, policies, session, request, subject, index, step, now, batch, progress, heartbeat
):
    """Carry out one step; returns rows changed, or None when its batches were journalled."""
    action = step["action"]
    if action == "keep":
        return 0
    source = policies.datamap.sources[step["source"]]
    table = source.tables[step["table"]]
    if action in ("http_erase", "http_anonymise"):
        return http_erasure.run(collector, source, table, subject, step, progress)
    if action == "history_delete":
        return session.execute(
            delete(CorrectionRecord).where(
                CorrectionRecord.subject_id == subject.id,
                CorrectionRecord.corrected_category == step["category"],
            )
        ).rowcount
    if action == "vault_delete":
        # The service's own database: committed with the step's audit entry, atomically.
        model = VAULT_TABLES[step["table"]].model
        return session.execute(delete(model).where(model.subject_id == subject.id)).rowcount
    key = collector.subject_key(source, subject)
    engine = collector.engines[source.name]
    t = collector.table(source.name, table.name)
    if action == "close":
        # Idempotent: closing again after a crash sets the same value.
        with engine.begin() as conn:
            return conn.execute(
                update(t)
                .where(matches(t.c[source.identity_column], key))
                .values({source.close_column: source.close_value})
            ).rowcount
    joined, tables, where = collector.scope(source, table, key)
    rule = policies.erasure.categories[step["category"]]
    kept = kept_clause(engine, tables, rule.keep, table.name, now)
    if action == "restrict":
        chosen, values = where & kept, {table.restrict_column: true()}
        recorded = {table.restrict_column: True}
    else:
        chosen = where & not_(kept) if rule.keep else where
        values = anonymised(t, table, step["category"]) if action == "anonymise" else None
        if action == "anonymise" and not values:
            return 0  # nothing of this category in the table needs changing
        recorded = values
    for n in batches.run(
        session,
        engine,
        t,
        joined=joined,
        where=chosen,
        size=batch,
        values=values,
        owner_kind="erasure",
        owner_id=request.id,
        step=str(index),
        source=source.name,
        table=table.name,
        action=action,
        recorded=recorded,
    ):
        if heartbeat:
            heartbeat(session)
        session.commit()
        if progress:
            progress(step, n)
    return None


def receipt(request, completed_at: dt.datetime, *, shredded: bool) -> dict:
    """What happened, per category: counts deleted, anonymised and kept, with why and until when."""
    categories: dict[str, dict] = {}
    for step in request.erasure_plan["steps"]:
        if step["action"] == "close":
            continue
        entry = categories.setdefault(step["category"], {"deleted": 0, "anonymised": 0, "kept": []})
        if step["action"] in ("delete", "vault_delete", "http_erase", "history_delete"):
            entry["deleted"] += step["rows"]
        elif step["action"] in ("anonymise", "http_anonymise"):
            entry["anonymised"] += step["rows"]
        else:
            entry["kept"].append(
                {
                    "table": step["table"],
                    "rows": step["rows"],
                    "basis": step.get("basis"),
                    "until": step.get("until"),
                    "note": step.get("note"),
                }
            )
    return {
        "completed_at": completed_at.isoformat(),
        "categories": categories,
        "account_closed": request.erasure_plan.get("closing", False),
        "keys_destroyed": shredded,
    }
