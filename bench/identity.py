"""Identity resolution: contact lookups in a shop of 1,000,000 customers on PostgreSQL.

Creates a uniquely named database with the members schema of ``tests/shopfix.py``, fills it with
BENCH_IDENTITY_ROWS customers (1,000,000) whose contacts are typed in mixed ways, creates the
expression indexes docs/connect-your-shop.md tells operators to create, and times the service's
own lookup (``privacy_service.datamap.lookup.find_accounts``) for e-mail and phone contacts,
half of them customers, half not. Prints p50 / p99 / max in milliseconds; nothing depends on it.

    .venv/bin/python bench/identity.py      # BENCH_DATABASE_URL for another PostgreSQL server
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from shopfix import metadata  # noqa: E402

from privacy_service.datamap.collect import Collector  # noqa: E402
from privacy_service.datamap.lookup import find_accounts, phone_expression  # noqa: E402
from privacy_service.policies.datamap import build as _build  # noqa: E402

ROWS = int(os.environ.get("BENCH_IDENTITY_ROWS", "1000000"))
LOOKUPS = int(os.environ.get("BENCH_IDENTITY_LOOKUPS", "2000"))
PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

FILL = """
INSERT INTO members (member_no, mail, mobile, full_name, state)
SELECT 'M' || g,
       CASE WHEN g % 3 = 0 THEN ' User' || g || '@Example.com'
            ELSE 'user' || g || '@example.com' END,
       CASE g % 4 WHEN 0 THEN '+86 139 ' || lpad((g % 10000)::text, 4, '0') || ' '
                              || lpad((g / 10000)::text, 4, '0')
                  WHEN 1 THEN '139-' || lpad((g % 10000)::text, 4, '0') || '-'
                              || lpad((g / 10000)::text, 4, '0')
                  ELSE '139' || lpad((g % 10000)::text, 4, '0') || lpad((g / 10000)::text, 4, '0')
       END,
       'x', 'open'
FROM generate_series(1, :rows) g
"""


def _datamap():
    return _build(
        {
            "sources": {
                "crm": {
                    "title": {"zh": "会员", "en": "Members"},
                    "kind": "sql",
                    "url_env": "X",
                    "identity": {
                        "table": "members",
                        "column": "member_no",
                        "contacts": {"email": "mail", "phone": "mobile"},
                    },
                    "tables": {
                        "members": {
                            "key": "id",
                            "fields": {
                                "mail": {
                                    "category": "account",
                                    "type": "email",
                                    "sensitive": False,
                                    "correctable": False,
                                    "export": True,
                                }
                            },
                        }
                    },
                }
            }
        }
    )


def _report(label: str, times: list[float]) -> None:
    times = sorted(times)
    p99 = times[int(len(times) * 0.99) - 1]
    print(
        f"{label:28} n={len(times):5}  p50 {statistics.median(times):6.2f} ms  "
        f"p99 {p99:6.2f} ms  max {times[-1]:6.2f} ms",
        flush=True,
    )


def main() -> int:
    base = make_url(PG)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"bench_identity_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine = create_engine(base.set(database=name))
    try:
        started = time.perf_counter()
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(text(FILL), {"rows": ROWS})
            expr = str(phone_expression(metadata.tables["members"].c.mobile).compile(engine))
            conn.execute(text("CREATE INDEX members_mail_lookup ON members ((lower(trim(mail))))"))
            expr = expr.replace("members.", "")
            conn.execute(text(f"CREATE INDEX members_mobile_lookup ON members (({expr}))"))
            conn.execute(text("ANALYZE members"))
        print(
            f"{ROWS:,} customers with indexes in {time.perf_counter() - started:.1f} s", flush=True
        )
        datamap = _datamap()
        source = datamap.sources["crm"]
        collector = Collector(datamap, {"crm": engine})
        rng = random.Random(7)
        for kind in ("email", "phone"):
            hits, misses = [], []
            for i in range(LOOKUPS):
                g = rng.randrange(1, ROWS + 1)
                known = i % 2 == 0
                if kind == "email":
                    value = f"user{g}@example.com" if known else f"nobody{g}@example.org"
                else:
                    digits = f"139{g % 10000:04d}{g // 10000:04d}"
                    value = digits if known else f"137{g % 10000:04d}{g // 10000:04d}"
                t = time.perf_counter()
                keys = find_accounts(collector, source, kind, value)
                elapsed = (time.perf_counter() - t) * 1000
                (hits if known else misses).append(elapsed)
                if known and kind == "email":
                    assert keys == [f"M{g}"], (value, keys)
            _report(f"{kind} lookup, customer", hits)
            _report(f"{kind} lookup, not a customer", misses)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
