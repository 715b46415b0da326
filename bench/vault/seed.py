"""2. Seeding the identity documents (subjects, data keys, documents): COPY on PostgreSQL,
executemany on SQLite, from rows generated once for both."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.vault import COLUMN, FORMAT, TABLE
from bench.vault.data import uuid7_strings
from privacy_service.crypto import Vault
from privacy_service.db import Database


class Seed:
    """Generated rows (subjects, data keys, identity documents), kept for a second backend."""

    def __init__(self, numbers: list[str], vault: Vault):
        self.numbers = numbers
        self.vault = vault
        self.subject_ids = uuid7_strings(len(numbers))
        self.doc_ids = uuid7_strings(len(numbers))
        self.data_keys: list[tuple] = []
        self.documents: list[tuple] = []

    def generate(self):
        """Yield (data key row, document row) per subject, with times filled in later."""
        vault, wrap, urandom = self.vault, self.vault.wrap, os.urandom
        blind_index, gen_key = vault.blind_index, AESGCM.generate_key
        fmt = bytes((FORMAT,))
        for sid, did, number in zip(self.subject_ids, self.doc_ids, self.numbers, strict=True):
            dek = gen_key(bit_length=256)
            nonce = urandom(12)
            envelope = (
                fmt
                + uuid.UUID(sid).bytes
                + nonce
                + AESGCM(dek).encrypt(nonce, number.encode(), f"{TABLE}/{COLUMN}/{did}".encode())
            )
            dk = (sid, "subject", wrap(dek, sid, 1), 1)
            doc = (did, sid, "resident_id", blind_index("id_number", number), envelope, "bench")
            self.data_keys.append(dk)
            self.documents.append(doc)
            yield dk, doc


def register_version(db: Database, vault: Vault) -> None:
    """key_versions row for version 1 (active), as the service registers it."""
    session = db.new_session()
    try:
        vault.active_version(session)
        session.commit()
    finally:
        session.close()


def _skip_fk_checks(conn) -> bool:
    """Bulk load without the per-row foreign-key trigger (pg_restore --disable-triggers does the
    same): the rows are consistent by construction and the constraint stays in place. Needs a
    superuser; without one, COPY runs with the checks (about 2x slower for the documents)."""
    try:
        conn.execute("SET session_replication_role = replica")
        return True
    except Exception:
        conn.rollback()
        return False


def seed_postgresql(db: Database, seed: Seed) -> dict[str, float]:
    """COPY subjects, then data keys and documents (two connections, generated on the fly)."""
    now = dt.datetime.now(dt.UTC).isoformat()
    t0 = time.perf_counter()
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        copy_sql = "COPY subjects (id, preferred_language, created_at) FROM STDIN"
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for sid in seed.subject_ids:
                copy.write_row((sid, "zh-CN", now))
        conn.commit()
    finally:
        raw.close()
    raw_keys, raw_docs = db.engine.raw_connection(), db.engine.raw_connection()
    try:
        keys_conn, docs_conn = raw_keys.driver_connection, raw_docs.driver_connection
        fk_skipped = _skip_fk_checks(docs_conn)
        with (
            keys_conn.cursor() as kcur,
            docs_conn.cursor() as dcur,
            kcur.copy(
                "COPY data_keys (owner_id, owner_kind, wrapped, kek_version, created_at) FROM STDIN"
            ) as kcopy,
            dcur.copy(
                f"COPY {TABLE} (id, subject_id, kind, id_number_bidx, id_number_enc, created_by,"
                " created_at) FROM STDIN"
            ) as dcopy,
        ):
            kwrite, dwrite = kcopy.write_row, dcopy.write_row
            for dk, doc in seed.generate():
                kwrite((*dk, now))
                dwrite((*doc, now))
        keys_conn.commit()
        docs_conn.execute("RESET session_replication_role")
        docs_conn.commit()
    finally:
        raw_keys.close()
        raw_docs.close()
    t1 = time.perf_counter()
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("subjects", "data_keys", TABLE):
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    return {"copy": t1 - t0, "vacuum": time.perf_counter() - t1, "fk_skipped": fk_skipped}


def checkpoint(db: Database) -> float:
    """Flush the bulk load's dirty pages now rather than during the timed lookups."""
    t0 = time.perf_counter()
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("CHECKPOINT")
    return time.perf_counter() - t0


def seed_sqlite(path: Path, seed: Seed) -> None:
    """Plain sqlite3 executemany in one transaction, with a page cache big enough for the
    indexes (the service's own connections keep SQLite's default)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size = -1000000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO subjects (id, preferred_language, created_at) VALUES (?, 'zh-CN', ?)",
            ((sid, now) for sid in seed.subject_ids),
        )
        conn.executemany(
            "INSERT INTO data_keys (owner_id, owner_kind, wrapped, kek_version, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            ((*dk, now) for dk in seed.data_keys),
        )
        conn.executemany(
            f"INSERT INTO {TABLE} (id, subject_id, kind, id_number_bidx, id_number_enc,"
            " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((*doc, now) for doc in seed.documents),
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
