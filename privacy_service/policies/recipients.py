"""``policies/recipients.yaml``: who receives customers' data, which categories, why, and where.

PIPL Art. 23 and 39 give a customer the right to know each recipient (name, contact, purpose,
categories) and whether their data leaves the country. The file is validated at start-up like
the other policy files (``file:line: field: problem``); categories must exist in
``categories.yaml``. A missing file means no recipients are declared (an operator's own shop
may not have written one yet); the export then says nothing about recipients.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from marshmallow import ValidationError, fields, validate, validates_schema

from privacy_service.policies._base import Strict, Text, bilingual, load_yaml

KINDS = {
    "seller": {"zh-CN": "商家", "en": "Seller"},
    "carrier": {"zh-CN": "物流承运商", "en": "Carrier"},
    "payment_provider": {"zh-CN": "支付机构", "en": "Payment provider"},
    "customs_broker": {"zh-CN": "报关企业", "en": "Customs broker"},
    "marketing_email": {"zh-CN": "营销邮件服务商", "en": "Marketing-email provider"},
    "other": {"zh-CN": "其他", "en": "Other"},
}


class _Country(Text):
    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Z]{2}$", error="An ISO 3166 code such as CN."),
    )


class _Recipient(Strict):
    name = fields.Nested(Text, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(tuple(KINDS)))
    categories = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    purpose = fields.Nested(Text, required=True)
    country = fields.Nested(_Country, required=True)
    contact = fields.String(required=True, validate=validate.Length(min=3, max=200))


class RecipientsSchema(Strict):
    """The whole file; categories are checked against ``categories.yaml``."""

    home_country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    recipients = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$")),
        values=fields.Nested(_Recipient),
        required=True,
    )

    def __init__(self, categories, **kwargs):
        super().__init__(**kwargs)
        self.known = list(categories)

    @validates_schema
    def _known_categories(self, data, **_kwargs):
        errors: dict = {}
        for code, recipient in data.get("recipients", {}).items():
            for i, category in enumerate(recipient.get("categories", [])):
                if category not in self.known:
                    errors.setdefault(code, {}).setdefault("categories", {})[i] = [
                        f"Unknown category; one of {self.known}."
                    ]
        if errors:
            raise ValidationError({"recipients": errors})


@dataclasses.dataclass(frozen=True)
class Recipient:
    """One recipient (or kind of recipient) of customers' data."""

    code: str
    name: dict[str, str]
    kind: str
    categories: tuple[str, ...]
    purpose: dict[str, str]
    country: str
    country_name: dict[str, str]
    contact: str
    cross_border: bool

    @property
    def kind_name(self) -> dict[str, str]:
        """The kind in both languages."""
        return KINDS[self.kind]


def load_recipients(policies_dir: Path, categories) -> tuple[Recipient, ...]:
    """Load and validate ``recipients.yaml`` (none when the file does not exist)."""
    path = Path(policies_dir) / "recipients.yaml"
    if not path.exists():
        return ()
    data = load_yaml(path, RecipientsSchema(categories))
    home = data["home_country"]
    return tuple(
        Recipient(
            code=code,
            name=bilingual(r["name"]),
            kind=r["kind"],
            categories=tuple(r["categories"]),
            purpose=bilingual(r["purpose"]),
            country=r["country"]["code"],
            country_name=bilingual(r["country"]),
            contact=r["contact"],
            cross_border=r["country"]["code"] != home,
        )
        for code, r in data["recipients"].items()
    )


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
