"""The demo's customer-service desk: its own database (SQLite by default, MariaDB when set).

Like a real help-desk product it knows customers only by the contacts they wrote or called
from, under its own ids (``desk_contacts``), so the service finds them by e-mail and phone, not
by the shop's customer id. Contacts are typed the way agents type them (upper-case letters,
+86, spaces and dashes). Tickets, call notes and chat transcripts hang off a desk contact.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()
BIG = BigInteger().with_variant(Integer, "sqlite")


def _contact() -> Column:
    return Column("contact_id", BIG, ForeignKey("desk_contacts.id"), nullable=False, index=True)


desk_contacts = Table(
    "desk_contacts",
    metadata,
    Column("id", BIG, primary_key=True, autoincrement=True),
    Column("email", String(254), index=True),
    Column("phone", String(32), index=True),
    Column("display_name", String(64)),
    Column("created_at", DateTime, nullable=False),
)
desk_tickets = Table(
    "desk_tickets",
    metadata,
    Column("id", BIG, primary_key=True, autoincrement=True),
    _contact(),
    Column("channel", String(16), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
)
desk_call_notes = Table(
    "desk_call_notes",
    metadata,
    Column("id", BIG, primary_key=True, autoincrement=True),
    _contact(),
    Column("called_at", DateTime, nullable=False),
    Column("duration_seconds", Integer, nullable=False),
    Column("note", Text),
)
desk_chats = Table(
    "desk_chats",
    metadata,
    Column("id", BIG, primary_key=True, autoincrement=True),
    _contact(),
    Column("started_at", DateTime, nullable=False),
    Column("transcript", Text),
)

CALL_NOTE = "客户询问清关进度，已告知预计时间。 Asked about customs clearance; told the date."
SUBJECTS = ("物流查询 Where is my parcel", "退货 Return", "发票 Invoice", "清关 Customs clearance")


def _typed_phone(phone: str, rng: random.Random) -> str:
    # How agents type numbers: +86, spaces, dashes.
    return rng.choice(
        (
            phone,
            f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}",
            f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
        )
    )


def seed_desk(engine: Engine, customers, *, rng: random.Random, now: dt.datetime) -> dict:
    """Create the desk's tables and its history with some of the shop's customers."""
    metadata.drop_all(engine)
    metadata.create_all(engine)
    naive = now.astimezone(dt.UTC).replace(tzinfo=None)
    counts = {t.name: 0 for t in metadata.sorted_tables}
    contact_id = 0
    with engine.begin() as conn:
        for c in customers:
            demo = c.id == 1
            if not demo and rng.random() < 0.5:
                continue  # half the shop's customers never contacted the desk
            # The demo customer wrote by e-mail and called from their phone: two desk contacts.
            entries = (
                [(c.email.upper(), None), (None, "+86 138-0013-8000")]
                if demo
                else [(c.email, _typed_phone(c.phone, rng))]
            )
            for email, phone in entries:
                contact_id += 1
                conn.execute(
                    desk_contacts.insert().values(
                        id=contact_id,
                        email=email,
                        phone=phone,
                        display_name=c.name,
                        created_at=naive - dt.timedelta(days=rng.randrange(30, 700)),
                    )
                )
                counts["desk_contacts"] += 1
                _history(conn, contact_id, c, rng, naive, counts, demo)
    return counts


def _history(conn, contact_id, c, rng, naive, counts, demo) -> None:
    for k in range(2 if demo else rng.randint(0, 3)):
        conn.execute(
            desk_tickets.insert().values(
                contact_id=contact_id,
                channel=rng.choice(("email", "web", "app")),
                subject=rng.choice(SUBJECTS),
                body=f"{c.name}：订单问题，请回电。 Please call me back about my order ({k + 1}).",
                status=rng.choice(("open", "solved", "solved")),
                created_at=naive - dt.timedelta(days=rng.randrange(1, 600)),
            )
        )
        counts["desk_tickets"] += 1
    for _ in range(1 if demo else rng.randint(0, 2)):
        conn.execute(
            desk_call_notes.insert().values(
                contact_id=contact_id,
                called_at=naive - dt.timedelta(days=rng.randrange(1, 400)),
                duration_seconds=rng.randint(40, 900),
                note=CALL_NOTE,
            )
        )
        counts["desk_call_notes"] += 1
    for _ in range(1 if demo else rng.randint(0, 2)):
        conn.execute(
            desk_chats.insert().values(
                contact_id=contact_id,
                started_at=naive - dt.timedelta(days=rng.randrange(1, 300)),
                transcript=f"客户：你好，我是{c.name}。\n客服：您好，请问有什么可以帮您？",
            )
        )
        counts["desk_chats"] += 1
