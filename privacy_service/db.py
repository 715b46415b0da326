"""Database: the declarative base, engine creation and session handling.

Nothing here connects at import time. ``Database`` is created by the app factory (or by a CLI
command or a test) from a URL; engines elsewhere (retention, exports) receive a ``Session``.
The app's vault travels with its sessions (``VAULT_KEY`` in ``session.info``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import uuid6
from sqlalchemy import (
    DateTime,
    MetaData,
    String,
    TypeDecorator,
    any_,
    bindparam,
    create_engine,
    event,
    func,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

if TYPE_CHECKING:
    from privacy_service.crypto.vault import Vault

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Normalise to UTC before storing; naive values are refused."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """Return aware UTC datetimes."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable Alembic names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __init__(self, **kwargs):
        # The id is assigned first: encrypted attributes bind their ciphertext to it.
        if "id" in self.__mapper__.columns and isinstance(
            self.__mapper__.columns["id"].type, String
        ):
            self.id = kwargs.pop("id", None) or new_id()
        for key, value in kwargs.items():
            if not hasattr(type(self), key):
                raise TypeError(f"{key!r} is an invalid keyword argument for {type(self).__name__}")
            setattr(self, key, value)


def new_id() -> str:
    """An app-generated, time-ordered id (UUIDv7), known before insert so it can bind AAD."""
    return str(uuid6.uuid7())


def is_uuid(value: str) -> bool:
    """True when ``value`` is a canonical UUID string (used to reject bad path ids early)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


ID = String(36)
# Where a session of an app's ``Database`` carries that app's vault (``crypto.vault_of`` reads it).
VAULT_KEY = "privacy.vault"


def make_engine(url: str, *, immediate: bool = True, connect_timeout: int | None = None) -> Engine:
    """Create an engine with per-backend settings that matter for concurrency.

    ``immediate`` (SQLite): take the write lock at BEGIN, so read-then-write transactions cannot
    deadlock; source systems read for long stretches (collection) and pass False, so their
    readers never lock the shop's writers out. ``connect_timeout`` (seconds, server databases):
    a source that does not answer fails in that time (and is retried) instead of hanging.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # Take the write lock at BEGIN so read-then-write transactions cannot deadlock.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # The URL's own ?connect_timeout= (an operator's choice) wins.
    own = "connect_timeout" in make_url(url).query
    connect_args = {"connect_timeout": connect_timeout} if connect_timeout and not own else {}
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args
    )


def ids_clause(engine: Engine, pk, ids: list):
    """``pk IN ids``: one array parameter on PostgreSQL, a plain IN list elsewhere.

    5,000 separate parameters cost more to build, send and plan than deleting the rows.
    """
    if engine.dialect.name == "postgresql":
        return pk == any_(bindparam("ids", type_=postgresql.ARRAY(pk.type))), {"ids": ids}
    return pk.in_(ids), {}


def claim_one(session: Session, candidates, take) -> str | None:
    """Claim one row for this worker; returns its id, or None.

    Picks a candidate id, then takes it with a conditional UPDATE (``take(id)``) that only
    succeeds if nobody else did. On PostgreSQL the pick uses ``FOR UPDATE SKIP LOCKED`` so
    workers never wait on each other. Commits either way.
    """
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    row_id = session.scalar(candidates)
    if row_id is None:
        session.commit()
        return None
    taken = session.execute(take(row_id)).rowcount
    session.commit()
    return row_id if taken == 1 else None


class Database:
    """An engine plus a thread-scoped session factory; its sessions carry the app's ``vault``.

    Each session gets the vault in its ``info`` (copied from the factory), so encrypted
    attributes, blind indexes and the audit chain use the keys of the app that made the session,
    never those of another app in the same process. Without a vault (a tool that only migrates
    or counts rows), anything that needs keys is refused.
    """

    def __init__(self, url: str, *, vault: Vault | None = None):
        self.url = url
        self.engine = make_engine(url)
        self.session_factory = sessionmaker(
            bind=self.engine,
            expire_on_commit=False,
            info={VAULT_KEY: vault} if vault is not None else None,
        )
        self.session = scoped_session(self.session_factory)

    @property
    def dialect(self) -> str:
        """The backend's name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def new_session(self) -> Session:
        """A fresh session not tied to the current thread's scope (jobs, workers)."""
        return self.session_factory()

    def remove(self, _exc=None) -> None:
        """End the current thread's session (Flask teardown)."""
        self.session.remove()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.session.remove()
        self.engine.dispose()


def local(s: Session, column, fmt_pg: str, fmt_sqlite: str):
    """``column`` as text in Shanghai time, by format (the databases spell it differently)."""
    if s.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), fmt_pg)
    return func.strftime(fmt_sqlite, column, "+8 hours")


def local_day(s: Session, column):
    """The Shanghai calendar day of ``column`` (a date on PostgreSQL, ``YYYY-MM-DD`` on SQLite)."""
    if s.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.strftime("%Y-%m-%d", column, "+8 hours")
