"""The archive's "who receives your data" files: recipients of the categories it holds.

A recipient is listed with the categories it receives that have records in this archive (a
customer without identity documents is not told that customs brokers got theirs); one that
receives none of them is left out. The same list feeds ``index.html`` and ``README.md``; its
shape (``shown``) and the text on exercising rights against a recipient (``RIGHTS``) also feed the
customer's request page, the API's status view and the staff request page (both live in
``privacy_service/policies/recipients.py``, which the core's request status reads too).
"""

from __future__ import annotations

import csv
import io
import json

from exports.formats import BOM
from privacy_service.policies.recipients import RIGHTS, shown


def recipients_in(recipients, plans, counts: dict[str, dict[str, int]]) -> list[dict]:
    """The recipients (policy objects) of this archive's non-empty categories, as plain dicts."""
    if not recipients:
        return []
    names = {plan.code: plan.name for plan in plans}
    present = {code for code, tables in counts.items() if sum(tables.values())}
    return shown(recipients, names, present)


def recipients_json(recipients: list[dict]) -> bytes:
    """``recipients/recipients.json``."""
    doc = {
        "description": {
            "zh-CN": "接收您个人信息的第三方、所接收的信息类别、目的和所在国家或地区",
            "en": "Who receives your personal data: the categories, the purpose and the country",
        },
        "how_to_exercise_rights": RIGHTS,
        "recipients": recipients,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode()


def recipients_csv(recipients: list[dict]) -> bytes:
    """``recipients/recipients.csv``: one row per recipient and category (UTF-8 with BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(
        [
            "recipient",
            "name_zh",
            "name_en",
            "kind",
            "category",
            "category_zh",
            "category_en",
            "purpose_zh",
            "purpose_en",
            "country",
            "country_zh",
            "country_en",
            "cross_border",
            "contact",
        ]
    )
    for r in recipients:
        for c in r["categories"]:
            writer.writerow(
                [
                    r["id"],
                    r["name"]["zh-CN"],
                    r["name"]["en"],
                    r["kind"]["code"],
                    c["code"],
                    c["name"]["zh-CN"],
                    c["name"]["en"],
                    r["purpose"]["zh-CN"],
                    r["purpose"]["en"],
                    r["country"]["code"],
                    r["country"]["zh-CN"],
                    r["country"]["en"],
                    "是 yes" if r["cross_border"] else "否 no",
                    r["contact"],
                ]
            )
    return buffer.getvalue().encode()
