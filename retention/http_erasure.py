"""Erasing or anonymising a customer's records at an HTTP source (a provider's API), step by step.

Planned like a database table (records counted per account; a hold or a ``keep`` rule keeps
them). A record is anonymised through the table's ``anonymise`` call when the policy anonymises
the category, or when the record also holds categories the customer did not ask to erase (as a
database row others depend on is); otherwise, or when the table declares no ``anonymise``, it is
erased through ``erase``. Records are listed again when the step runs, a record already gone
counts as done, and both calls set a state rather than add one, so a step re-run after a crash
or a provider outage finishes the rest and repeats nothing that matters.
"""

from __future__ import annotations

from retention.rows import REPLACEMENT


def steps(collector, subject, source, table, category, rule, hold, chosen=()) -> list[dict]:
    """The plan's step for one HTTP table: ``http_erase`` / ``http_anonymise``, or ``keep``."""
    keys = collector.subject_key(source, subject)
    if not keys:
        return []
    client = collector.engines[source.name]
    count = sum(1 for _ in client.account_records(table, keys))
    step = {"category": category, "source": source.name, "table": table.name, "rows": count}
    if hold or rule.action == "keep":
        return [{**step, "action": "keep", "basis": None, "until": None}]
    others = set(table.categories()) - set(chosen or [category])
    wants = rule.action == "anonymise" or bool(others)
    if wants and table.http.get("anonymise"):
        if not anonymised_values(table, category):
            return []  # nothing of this category in the table needs changing
        return [{**step, "action": "http_anonymise"}]
    return [{**step, "action": "http_erase"}]


def anonymised_values(table, category: str) -> dict:
    """What ``anonymise`` sends: the category's fields, replaced or cleared per the data map."""
    return {
        f.name: REPLACEMENT.get(f.type, "已删除") if f.anonymise == "replace" else None
        for f in table.fields
        if f.category == category and f.anonymise != "keep"
    }


def run(collector, source, table, subject, step, progress) -> int:
    """Erase or anonymise every record of the step's table for the customer's accounts."""
    keys = collector.subject_key(source, subject) or ()
    client = collector.engines[source.name]
    key_field = table.http["key"]
    ids = [record.get(key_field) for record in client.account_records(table, keys)]
    values = anonymised_values(table, step["category"])
    changed = 0
    for record_id in ids:
        if step["action"] == "http_anonymise":
            changed += client.change(table, "anonymise", record_id, values)
        else:
            client.erase(table, record_id)
            changed += 1
        if progress:
            progress(step, 1)
    return changed
