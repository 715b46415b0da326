"""Erasing a customer's records at an HTTP source (a provider's API), step by step.

Planned like a database table (records counted per account; a hold or a ``keep`` rule keeps
them), executed by erasing each record through the API's ``erase`` call. Records are listed
again when the step runs, and a record already gone counts as erased, so a step re-run after a
crash or a provider outage erases the rest, once.
"""

from __future__ import annotations


def steps(collector, subject, source, table, category, rule, hold) -> list[dict]:
    """The plan's step for one HTTP table: ``http_erase`` with a record count, or ``keep``."""
    keys = collector.subject_key(source, subject)
    if not keys:
        return []
    client = collector.engines[source.name]
    count = sum(1 for _ in client.account_records(table, keys))
    step = {"category": category, "source": source.name, "table": table.name, "rows": count}
    if hold or rule.action == "keep":
        return [{**step, "action": "keep", "basis": None, "until": None}]
    return [{**step, "action": "http_erase"}]


def run(collector, source, table, subject, step, progress) -> None:
    """Erase every record of the step's table for the customer's accounts."""
    keys = collector.subject_key(source, subject) or ()
    client = collector.engines[source.name]
    key_field = table.http["key"]
    ids = [record.get(key_field) for record in client.account_records(table, keys)]
    for record_id in ids:
        client.erase(table, record_id)
        if progress:
            progress(step, 1)
