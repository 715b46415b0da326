"""The archive's "who receives your data" files: recipients of the categories it holds.

A recipient is listed with the categories it receives that have records in this archive (a
customer without identity documents is not told that customs brokers got theirs); one that
receives none of them is left out. The same list feeds ``index.html`` and ``README.md``; its
shape (``shown``) and the text on exercising rights against a recipient (``RIGHTS``) also feed the
customer's request page, the API's status view and the staff request page.
"""

from __future__ import annotations

import csv
import io
import json

from exports.formats import BOM

# How a customer exercises their rights over what a recipient holds (PIPL Art. 39 asks that the
# customer be told this for a transfer abroad; it holds for every recipient).
RIGHTS = {
    "zh-CN": "您可以直接联系接收方，对其持有的您的个人信息行使查阅、复制、更正、删除等权利；"
    "也可以联系我们的隐私团队，我们会转达并协助您。境外接收方同样受此约束"
    "（《个人信息保护法》第三十九条）。",
    "en": "You can write to a recipient at its contact to see, copy, correct or delete the data "
    "it holds about you, or ask our privacy team, who will pass your request on and help. "
    "This holds for recipients abroad too (PIPL Art. 39).",
}


def shown(recipients, names: dict[str, dict], present=None) -> list[dict]:
    """The recipients of the categories in ``present`` (all when None), as plain dicts.

    ``names`` maps category codes to their names in both languages. A recipient that receives
    none of those categories is left out. The export, the customer page, the API and the staff
    page all show this shape.
    """
    out = []
    for r in recipients or ():
        cats = [
            {"code": c, "name": names[c]}
            for c in r.categories
            if c in names and (present is None or c in present)
        ]
        if not cats:
            continue
        out.append(
            {
                "id": r.code,
                "name": r.name,
                "kind": {"code": r.kind, **r.kind_name},
                "categories": cats,
                "purpose": r.purpose,
                "country": {"code": r.country, **r.country_name},
                "cross_border": r.cross_border,
                "contact": r.contact,
            }
        )
    return out


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
