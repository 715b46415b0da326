"""Privacy choices: consents the customer gives or withdraws at once (PIPL Art. 15).

Marketing e-mail, marketing SMS and personalised ads. Withdrawing consent must be as easy as
giving it, so a change needs no staff review: it is written to the source systems at once,
through the fields the data map marks with ``choice``, and audited (which choices, on or off).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from privacy_service import audit
from privacy_service.policies.datamap_schema import CHOICES


def current(collector, subject) -> dict[str, bool | None]:
    """Each choice as the sources hold it now (None when the customer has no such record)."""
    out: dict[str, bool | None] = dict.fromkeys(CHOICES)
    for choice, places in collector.datamap.choices().items():
        for source, table, field in places:
            key = collector.subject_key(source, subject)
            if key is None:
                continue
            t = collector.table(source.name, table.name)
            joined, _tables, where = collector.scope(source, table, key)
            with collector.engines[source.name].connect() as conn:
                value = conn.execute(
                    select(t.c[field.name]).select_from(joined).where(where).limit(1)
                ).scalar()
            if value is not None:
                out[choice] = bool(value)
                break
    return out


def change(
    collector, session: Session, subject, wanted: dict[str, bool], *, actor: str, request_id=None
) -> dict[str, bool]:
    """Write the wanted choices to every source at once; returns what was written. Audited."""
    places = collector.datamap.choices()
    by_source: dict[str, list] = {}
    for choice, value in wanted.items():
        for source, table, field in places.get(choice, []):
            by_source.setdefault(source.name, []).append((source, table, field, bool(value)))
    written: dict[str, bool] = {}
    for name, items in by_source.items():
        prepared = []
        for source, table, field, value in items:
            key = collector.subject_key(source, subject)
            if key is None:
                continue
            t = collector.table(name, table.name)
            prepared.append((t, field, value, collector.scope(source, table, key)))
        # One transaction per source: all of a source's choices change together.
        with collector.engines[name].begin() as conn:
            for t, field, value, (joined, _tables, where) in prepared:
                pk = next(iter(t.primary_key.columns))
                # Ids first: MySQL cannot update a table it reads in a subquery.
                ids = list(conn.execute(select(pk).select_from(joined).where(where)).scalars())
                if ids:
                    conn.execute(update(t).where(pk.in_(ids)).values({field.name: value}))
                written[field.choice] = value
    audit.record(
        session,
        "privacy_choices.changed",
        actor=actor,
        request_id=request_id,
        subject_id=subject.id,
        fields=sorted(written),
        details={"choices": written},
    )
    return written
