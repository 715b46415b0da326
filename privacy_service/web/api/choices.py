"""The customer API for privacy choices: ``/api/v1/privacy-choices`` (bearer token)."""

from __future__ import annotations

from flask import request as http_request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validates_schema
from marshmallow import ValidationError as SchemaError

from privacy_service.errors import NotFound
from privacy_service.requests import tokens
from privacy_service.requests.schemas import StrictSchema
from privacy_service.subjects import choices
from privacy_service.subjects.models import Subject
from privacy_service.web.context import runtime

blp = Blueprint(
    "privacy_choices",
    __name__,
    url_prefix="/api/v1/privacy-choices",
    description="Consents the customer gives or withdraws at once, without review.",
)

_MEANING = {
    "marketing_email": "Marketing e-mail",
    "marketing_sms": "Marketing SMS",
    "personalised_ads": "Personalised (interest-based) ads",
}


class ChoicesSchema(Schema):
    """Each consent: true given, false withdrawn, null when the shop holds no such setting."""

    marketing_email = fields.Boolean(
        allow_none=True, metadata={"description": _MEANING["marketing_email"]}
    )
    marketing_sms = fields.Boolean(
        allow_none=True, metadata={"description": _MEANING["marketing_sms"]}
    )
    personalised_ads = fields.Boolean(
        allow_none=True, metadata={"description": _MEANING["personalised_ads"]}
    )


class ChoicesUpdateSchema(StrictSchema):
    """The consents to change (any of them); ``false`` withdraws, ``true`` gives."""

    marketing_email = fields.Boolean(metadata={"description": _MEANING["marketing_email"]})
    marketing_sms = fields.Boolean(metadata={"description": _MEANING["marketing_sms"]})
    personalised_ads = fields.Boolean(metadata={"description": _MEANING["personalised_ads"]})

    @validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise SchemaError("Name at least one choice.", field_name="_schema")


def _subject():
    rt = runtime()
    subject_id = tokens.subject_of(rt.token_secret, http_request.headers.get("Authorization"))
    subject = rt.db.session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("No such customer.")
    return rt, subject


@blp.route("")
class PrivacyChoices(MethodView):
    """The signed-in customer's privacy choices."""

    @blp.response(200, ChoicesSchema)
    @blp.alt_response(401, description="Missing or invalid bearer token")
    def get(self):
        """The current choices, as the shop's systems hold them."""
        rt, subject = _subject()
        return choices.current(rt.collector(), subject)

    @blp.arguments(ChoicesUpdateSchema)
    @blp.response(200, ChoicesSchema)
    @blp.alt_response(401, description="Missing or invalid bearer token")
    def put(self, data):
        """Change choices at once (no review); answers the choices now in force. Audited."""
        rt, subject = _subject()
        collector = rt.collector()
        choices.change(collector, rt.db.session, subject, data, actor="customer")
        rt.db.session.commit()
        return choices.current(collector, subject)
