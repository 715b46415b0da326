"""The demo shop's customers: Chinese names, mobile numbers and ID numbers, always the same.

Customer 1 is the demo customer the README signs in as; the others come from a seeded random
generator, so the same seed gives the same people (and ``generate.py`` their history).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from privacy_service.crypto.normalize import id_check_character

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁"
    "谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华志婷雪梅丹玲浩宇欣怡涵萱俊"
ID_REGIONS = [
    "110105",
    "110108",
    "310104",
    "310115",
    "440106",
    "440305",
    "330106",
    "510107",
    "320106",
]
DEMO = {"email": "demo@example.com", "phone": "13800138000", "name": "张伟"}


@dataclasses.dataclass
class Customer:
    """One generated customer (before any row is written)."""

    id: int
    email: str
    phone: str
    name: str
    id_number: str | None = None
    identity_document_id: str | None = None


def _id_number(rng: random.Random) -> str:
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(365 * 32))
    first17 = f"{rng.choice(ID_REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_check_character(first17)


def make_customers(count: int, rng: random.Random) -> list[Customer]:
    """Customer 1 is always the demo customer; the rest are random but deterministic."""
    out = [Customer(1, DEMO["email"], DEMO["phone"], DEMO["name"], _id_number(rng))]
    for i in range(2, count + 1):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        has_customs = rng.random() < 0.6
        out.append(
            Customer(
                i, f"user{i}@example.net", phone, name, _id_number(rng) if has_customs else None
            )
        )
    return out
