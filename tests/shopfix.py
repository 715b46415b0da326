"""An operator's shop unlike the demo, on SQLite, PostgreSQL or MariaDB, for the connect tests.

``members(member_no, mail, mobile, ...)`` with text keys, addresses, purchases and their lines.
Each database is created with a unique name and dropped afterwards; an unreachable server is a
failure, never a skip.
"""

from __future__ import annotations

import datetime as dt
import os
import textwrap
import uuid

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    text,
)
from sqlalchemy.engine import make_url

MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
PG_URL = os.environ.get("TEST_DATABASE_URL")

metadata = MetaData()
members = Table(
    "members",
    metadata,
    Column("member_no", String(16), primary_key=True),
    Column("mail", String(200)),
    Column("mobile", String(32)),
    Column("full_name", String(64)),
    Column("state", String(16), nullable=False, default="open"),
)
member_addresses = Table(
    "member_addresses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_no", String(16), ForeignKey("members.member_no"), nullable=False),
    Column("line1", String(200)),
    Column("city", String(64)),
)
purchases = Table(
    "purchases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_no", String(16), ForeignKey("members.member_no"), nullable=False),
    Column("total", Integer, nullable=False),
    Column("placed_at", DateTime, nullable=False),
)
purchase_lines = Table(
    "purchase_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purchase_id", Integer, ForeignKey("purchases.id"), nullable=False),
    Column("sku", String(32), nullable=False),
)

DATAMAP = textwrap.dedent(
    """\
    # An operator's data map: nothing of the demo.
    sources:
      crm:
        title: {zh-CN: 会员系统, en: Member system}
        url_env: PRIVACY_SOURCE_CRM_URL
        identity: {table: members, column: member_no, contacts: {email: mail, phone: mobile},
                   close: {column: state, value: closed}}
        tables:
          members:
            fields:
              full_name: {category: account, type: name, correctable: true}
              mail: {category: account, type: email}
              mobile: {category: account, type: phone, sensitive: true}
          member_addresses:
            link: {column: member_no, references: members.member_no}
            fields:
              line1: {category: addresses, type: address_part, correctable: true}
              city: {category: addresses, type: address_part}
          purchases:
            link: {column: member_no, references: members.member_no}
            fields:
              total: {category: orders, type: money}
              placed_at: {category: orders, type: datetime}
          purchase_lines:
            link: {column: purchase_id, references: purchases.id}
            fields:
              sku: {category: orders, type: text}
    """
)

# The shop's marketing-email provider as an HTTP source (tests/test_http_source.py plays it;
# bench/multisource.py too): subscribers found by e-mail, their send logs in pages.
MAILER = """
  mailer:
    kind: http
    title: {zh-CN: 邮件营销服务, en: Marketing e-mail provider}
    url_env: PRIVACY_SOURCE_MAILER_URL
    token_env: PRIVACY_SOURCE_MAILER_TOKEN
    timeout_seconds: 2
    retries: 1
    identity: {table: subscribers, column: id, contacts: {email: email}}
    tables:
      subscribers:
        find: {path: /subscribers, records: data, item: "/subscribers/{id}"}
        erase: {method: DELETE, path: "/subscribers/{id}"}
        fields:
          email: {category: preferences, type: email}
          subscribed_at: {category: preferences, type: datetime}
      sends:
        find: {path: "/subscribers/{key}/sends", records: page.items, next: page.next}
        erase: {method: DELETE, path: "/sends/{id}"}
        fields:
          campaign: {category: preferences, type: text}
          sent_at: {category: preferences, type: datetime}
"""

# Li Na has two accounts under one e-mail address (typed differently), one phone on the first.
PEOPLE = [
    ("M-001", " Li.Na@Example.COM ", "+86 139-1234-5678", "李娜"),
    ("M-002", "li.na@example.com", "13900000000", "李娜"),
    ("M-003", "wang@example.org", "13811112222", "王芳"),
]


def fill(engine) -> None:
    """Create the shop's tables and its three members with addresses and purchases."""
    metadata.drop_all(engine)
    metadata.create_all(engine)
    placed = dt.datetime(2025, 3, 1, 10, 0)
    with engine.begin() as conn:
        for i, (no, mail, mobile, name) in enumerate(PEOPLE):
            conn.execute(
                members.insert().values(
                    member_no=no, mail=mail, mobile=mobile, full_name=name, state="open"
                )
            )
            conn.execute(
                member_addresses.insert().values(member_no=no, line1=f"路 {i}", city="杭州")
            )
            pid = conn.execute(
                purchases.insert().values(member_no=no, total=1000 + i, placed_at=placed)
            ).inserted_primary_key[0]
            conn.execute(purchase_lines.insert().values(purchase_id=pid, sku=f"SKU-{no}"))


class ShopDatabase:
    """A uniquely named database for the operator's shop on one backend."""

    def __init__(self, backend: str, tmp_path):
        self.backend = backend
        self.name = f"shop_{uuid.uuid4().hex[:10]}"
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp_path / (self.name + '.db')}"
            self._admin = None
            return
        base = make_url(MARIADB_URL if backend == "mariadb" else PG_URL)
        self._admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:  # fails loudly when the server is unreachable
            conn.execute(text(f"CREATE DATABASE {self.name}"))
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        """Drop the database (server backends)."""
        if self._admin is None:
            return
        force = " WITH (FORCE)" if self.backend == "postgresql" else ""
        with self._admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {self.name}{force}"))
        self._admin.dispose()


def write_policies(folder, datamap: str = DATAMAP) -> str:
    """An operator's policies folder holding only a data map; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "datamap.yaml").write_text(datamap, encoding="utf-8")
    return str(folder)
