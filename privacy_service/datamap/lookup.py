"""Finding a contact's accounts in a source: its identity table's contact columns.

Values are compared the way the service's blind index normalises them: e-mail addresses trimmed
and lower-cased; mainland mobile numbers without spaces, dashes, brackets or the +86 / 0086
prefix. The database narrows the candidates with the same normalisation written in SQL (portable
to PostgreSQL, MySQL/MariaDB and SQLite); each candidate is then confirmed in Python, so a
stored value the SQL form reads differently never matches the wrong customer. A source may
name a column already holding the normalised form (``identity.lookup``, a generated column):
the lookup then compares that column itself, which a plain index serves on any database.
"""

from __future__ import annotations

from sqlalchemy import func, literal_column, select

from privacy_service.crypto.normalize import InvalidValue, normalize
from privacy_service.policies.datamap import SourceSpec

PHONE_NOISE = (" ", "-", "+", "(", ")", ".")


def phone_expression(column):
    """SQL for a stored phone number without the characters people type around the digits."""
    expr = func.trim(column)
    for char in PHONE_NOISE:
        # Constants written into the SQL, not parameters: an index on this same expression
        # (docs/connect-your-shop.md) then serves the lookup.
        expr = func.replace(expr, literal_column(f"'{char}'"), literal_column("''"))
    return expr


def email_expression(column):
    """SQL for a stored e-mail address, trimmed and lower-cased."""
    return func.lower(func.trim(column))


def lookup_expression(kind: str, column):
    """The SQL the lookup compares for a contact column of ``kind`` (what an index must hold)."""
    return email_expression(column) if kind == "email" else phone_expression(column)


def contact_query(collector, source: SourceSpec, kind: str, value: str):
    """SELECT (key, stored contact) of the identity rows whose ``kind`` column may match."""
    wanted = normalize(kind, value)
    t = collector.table(source.name, source.identity_table)
    key, column = t.c[source.identity_column], t.c[source.contacts[kind]]
    if kind in source.lookup:
        compared = t.c[source.lookup[kind]]  # already normalised by the database: indexed as is
    else:
        compared = lookup_expression(kind, column)
    if kind == "email":
        condition = compared == wanted
    else:
        condition = compared.in_([wanted, f"86{wanted}", f"0086{wanted}"])
    return select(key, column).where(condition).order_by(key), wanted


def find_accounts(collector, source: SourceSpec, kind: str, value: str) -> list[str]:
    """Keys (as text) of ``source``'s accounts whose ``kind`` contact equals ``value``.

    Raises the driver's error when the source is unreachable: the caller records and retries;
    a failure must never read as "not a customer".
    """
    if kind not in source.contacts:
        return []
    if source.kind == "http":
        return collector.engines[source.name].find_accounts(kind, value)
    stmt, wanted = contact_query(collector, source, kind, value)
    with _one_read(collector.engines[source.name]) as conn:
        rows = conn.execute(stmt).all()
    keys = []
    for key, stored in rows:
        try:
            if stored is not None and normalize(kind, str(stored)) == wanted:
                keys.append(str(key))
        except InvalidValue:
            continue
    return keys


def _one_read(engine):
    """A connection for one SELECT.

    On PostgreSQL in autocommit: one round trip instead of three (BEGIN, the SELECT, and the
    ROLLBACK when the pool takes it back), measured in ``bench/identity.py``. Elsewhere as is:
    switching PyMySQL to autocommit costs a round trip of its own.
    """
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn
