"""Planning an erasure: what each table of each chosen category will lose, keep, and why.

The plan is fixed before anything changes and stored on the request (``retention.erasure``
executes it step by step); the customer's receipt is built from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from privacy_service.holds import HOLD_BASIS, LegalHold
from privacy_service.policies.retention import Period
from privacy_service.subjects.history import CorrectionRecord
from privacy_service.subjects.vault_tables import VAULT_TABLES
from retention import http_erasure
from retention.periods import cutoff, cutoff_inverse, naive_if_sqlite
from retention.rows import condition


class SourcesFailed(Exception):
    """Some sources failed this pass; their steps stay to be retried (the others are done)."""

    def __init__(self, failures: dict[str, str]):
        super().__init__(", ".join(sorted(failures)))
        self.failures = failures


def _period_note(years: int) -> dict[str, str]:
    return {
        "zh-CN": f"尚未完成：自完成之日起再保存 {years} 年，到期后删除或匿名化",
        "en": f"not completed yet: kept {years} years from completion, then deleted or anonymised",
    }


def kept_clause(engine, tables, keep_rules, table_name, now):
    """Rows of ``table_name`` a keep rule still holds at ``now`` (a SQL clause)."""
    clauses = []
    for rule in keep_rules:
        if table_name not in rule.tables:
            continue
        if rule.anchor_table:
            anchor = tables[rule.anchor_table].c[rule.anchor_field]
            since = naive_if_sqlite(engine, cutoff(now, Period(years=rule.years)))
            clauses.append(or_(anchor.is_(None), anchor > since))
        else:
            clauses.append(and_(*(condition(tables[table_name], c) for c in rule.when)))
    return or_(*clauses) if clauses else false()


def _until(engine, joined, tables, where, rule, table_name, now):
    if not rule.anchor_table:
        return None
    anchor = tables[rule.anchor_table].c[rule.anchor_field]
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(anchor)).select_from(joined).where(where)).scalar()
    if latest is None:
        return None
    return cutoff_inverse(latest, Period(years=rule.years)).date().isoformat()


def plan(
    collector,
    policies,
    session: Session,
    subject,
    categories: Iterable[str] | None,
    *,
    now: dt.datetime,
    holds: list[LegalHold],
    closing: bool = False,
) -> dict:
    """The steps that erase ``categories`` (all when None) of ``subject``, with row counts."""
    datamap, policy = policies.datamap, policies.erasure
    chosen = list(categories or datamap.categories())
    subject_hold = next((h for h in holds if h.category is None), None)
    steps: list[dict] = []
    failures: dict[str, str] = {}
    for category in chosen:
        rule = policy.categories[category]
        hold = subject_hold or next((h for h in holds if h.category == category), None)
        for source in datamap.sources.values():
            for table in source.tables.values():
                if category not in table.categories() or source.name in failures:
                    continue
                try:
                    planned = _table_steps(
                        collector,
                        session,
                        subject,
                        source,
                        table,
                        category,
                        rule,
                        hold,
                        chosen,
                        now,
                    )
                except Exception as exc:  # a source down: plan nothing until it answers
                    failures[source.name] = type(exc).__name__
                    continue
                steps.extend(planned)
        steps.extend(_history_steps(session, subject, category, rule, hold))
    if failures:
        raise SourcesFailed(failures)
    if closing and not subject_hold:
        shop = [s for s in datamap.sources.values() if s.kind == "sql" and s.close_column]
        steps.extend(
            {
                "category": "account",
                "source": s.name,
                "table": s.identity_table,
                "action": "close",
                "rows": 1,
            }
            for s in shop
            if collector.subject_key(s, subject) is not None
        )
    return {
        "now": now.isoformat(),
        "categories": chosen,
        "closing": closing,
        "steps": steps,
        "done": 0,
    }


def _history_steps(session, subject, category, rule, hold) -> list[dict]:
    """Corrections' history of ``category`` goes with the data it came from.

    Kept while the category is held or kept as a whole; otherwise deleted, also when the data
    is only anonymised (an original value kept would undo the anonymisation).
    """
    if hold or rule.action == "keep":
        return []
    count = (
        session.scalar(
            select(func.count())
            .select_from(CorrectionRecord)
            .where(
                CorrectionRecord.subject_id == subject.id,
                CorrectionRecord.corrected_category == category,
            )
        )
        or 0
    )
    if not count:
        return []
    return [
        {
            "category": category,
            "source": "vault",
            "table": CorrectionRecord.__tablename__,
            "action": "history_delete",
            "rows": count,
        }
    ]


def _table_steps(collector, session, subject, source, table, category, rule, hold, chosen, now):
    if source.kind == "http":
        return http_erasure.steps(collector, subject, source, table, category, rule, hold, chosen)
    if source.kind == "vault":
        model = VAULT_TABLES[table.name].model
        count = (
            session.scalar(
                select(func.count()).select_from(model).where(model.subject_id == subject.id)
            )
            or 0
        )
        if hold:
            return [_keep_step(category, source, table, count, hold)]
        return [
            {
                "category": category,
                "source": source.name,
                "table": table.name,
                "action": "vault_delete",
                "rows": count,
            }
        ]
    key = collector.subject_key(source, subject)
    if key is None:
        return []
    engine = collector.engines[source.name]
    joined, tables, where = collector.scope(source, table, key)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(joined).where(where)).scalar()
    if hold or rule.action == "keep":
        return [_keep_step(category, source, table, total, hold)]
    kept_where = kept_clause(engine, tables, rule.keep, table.name, now)
    with engine.connect() as conn:
        kept = conn.execute(
            select(func.count()).select_from(joined).where(where, kept_where)
        ).scalar()
    steps = []
    if kept:
        steps.extend(_kept_steps(engine, joined, tables, where, kept_where, rule, source, table))
    if total - kept:
        action = rule.action
        has_children = any(t.parent_table == table.name for t in source.tables.values())
        other_categories = set(table.categories()) - set(chosen)
        if action == "delete" and (
            table.name == source.identity_table or has_children or other_categories
        ):
            action = "anonymise"  # rows others depend on stay, emptied of this category's data
        steps.append(
            {
                "category": category,
                "source": source.name,
                "table": table.name,
                "action": action,
                "rows": total - kept,
            }
        )
    return steps


def _kept_steps(engine, joined, tables, where, kept_clause, rule, source, table) -> list[dict]:
    """Kept rows, one step per retention end the receipt states.

    Rows whose period has started go until the latest of their ends (``retention explain``
    gives each row's own, never later); rows whose period has not started (an order still open)
    are told apart, with no date, as their end is not known yet.
    """
    keep_rule = next(r for r in rule.keep if table.name in r.tables)
    groups: list[tuple] = [(kept_clause, "dated")]
    if keep_rule.anchor_table:
        anchor = tables[keep_rule.anchor_table].c[keep_rule.anchor_field]
        groups = [
            (and_(kept_clause, anchor.is_not(None)), "dated"),
            (and_(kept_clause, anchor.is_(None)), "open"),
        ]
    steps = []
    for clause, kind in groups:
        with engine.connect() as conn:
            rows = conn.execute(
                select(func.count()).select_from(joined).where(where, clause)
            ).scalar()
        if not rows:
            continue
        open_period = kind == "open"
        until = (
            None
            if open_period
            else _until(engine, joined, tables, and_(where, clause), keep_rule, table.name, None)
        )
        steps.append(
            {
                "category": rule.code,
                "source": source.name,
                "table": table.name,
                "action": "restrict" if table.restrict_column else "keep",
                "rows": rows,
                "basis": keep_rule.basis,
                "until": until,
                "note": _period_note(keep_rule.years) if open_period else keep_rule.note,
            }
        )
    return steps


def _keep_step(category, source, table, rows, hold):
    return {
        "category": category,
        "source": source.name,
        "table": table.name,
        "action": "keep",
        "rows": rows,
        "basis": HOLD_BASIS if hold else None,
        "until": hold.until.isoformat() if hold else None,
    }
