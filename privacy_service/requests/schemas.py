"""API schemas. Output schemas are per audience: these are the customer's; staff get their own."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from privacy_service.crypto.normalize import InvalidValue, normalize
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests.behalf import RELATIONSHIPS, SELF
from privacy_service.requests.lifecycle import STATUSES

LANGUAGES = ("zh-CN", "en")


class SafeString(fields.String):
    """A string without control characters (newlines and tabs only where allowed)."""

    def __init__(self, *args, multiline: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        allowed = "\n\t\r" if self.multiline else ""
        if any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in text):
            raise ValidationError("Control characters are not allowed.")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise ValidationError("Not valid Unicode text.")
        return text


class Identifier(SafeString):
    """An email address, phone number or ID number, validated and normalised on load."""

    def __init__(self, kind: str, **kwargs):
        super().__init__(validate=validate.Length(max=254), **kwargs)
        self.kind = kind

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize(self.kind, text)
        except InvalidValue as exc:
            raise ValidationError(str(exc)) from exc


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped."""

    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE


class CorrectionSchema(StrictSchema):
    """One field to correct and its new value."""

    category = SafeString(required=True, validate=validate.Length(min=1, max=40))
    field = SafeString(
        required=True,
        validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[a-z][a-z0-9_]*$")],
    )
    value = SafeString(required=True, validate=validate.Length(min=1, max=500))
    record_id = fields.Integer(
        validate=validate.Range(min=1),
        metadata={
            "description": "Which record (its id in the export); not needed for account fields."
        },
    )


class OnBehalfSchema(StrictSchema):
    """Who asks for someone else: the relationship and the requester's own contact."""

    relationship = fields.String(
        required=True,
        validate=validate.OneOf((SELF, *RELATIONSHIPS)),
        metadata={
            "description": "self (the account holder; the default), guardian (of a minor), "
            "deceased_relative (a close relative of a deceased customer) or agent (with a "
            "written authorisation)."
        },
    )
    name = SafeString(
        validate=validate.Length(min=1, max=100), metadata={"description": "The requester's name."}
    )
    email = Identifier("email", metadata={"description": "The requester's e-mail; or phone."})
    phone = Identifier("phone", metadata={"description": "The requester's mobile; or e-mail."})

    @validates_schema
    def _contact(self, data, **_kwargs):
        if data.get("relationship") == SELF:
            if {"email", "phone", "name"} & set(data):
                raise ValidationError(
                    "The account holder asks with the request's own contact.", field_name="email"
                )
        elif ("email" in data) == ("phone" in data):
            raise ValidationError(
                "Give exactly one of email or phone: the requester's own contact.",
                field_name="email",
            )


class RequestCreateSchema(StrictSchema):
    """A new data-subject request."""

    type = fields.String(required=True, validate=validate.OneOf(REQUEST_TYPES))
    email = Identifier("email", metadata={"description": "Contact email; give this or phone."})
    phone = Identifier("phone", metadata={"description": "Mainland mobile number; or email."})
    categories = fields.List(
        SafeString(validate=validate.Length(min=1, max=40)),
        validate=validate.Length(min=1, max=20),
        metadata={"description": "Categories for access or deletion; all when omitted."},
    )
    corrections = fields.List(
        fields.Nested(CorrectionSchema), validate=validate.Length(min=1, max=20)
    )
    note = SafeString(multiline=True, validate=validate.Length(max=2000))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    jurisdiction = SafeString(
        validate=[validate.Length(max=32)],
        metadata={"description": "Deadline policy code from policies/; the default is China."},
    )
    on_behalf = fields.Nested(
        OnBehalfSchema,
        metadata={
            "description": "For someone else: email or phone above is then the account's "
            "contact, and the code goes to the requester's own contact given here. Such a "
            "request waits for the privacy team to check the requester's evidence."
        },
    )

    @validates_schema
    def _shape(self, data, **_kwargs):
        if ("email" in data) == ("phone" in data):
            raise ValidationError("Give exactly one of email or phone.", field_name="email")
        if data.get("type") == "correction" and not data.get("corrections"):
            raise ValidationError(
                "A correction request names at least one field.", field_name="corrections"
            )
        if data.get("type") != "correction" and "corrections" in data:
            raise ValidationError(
                "Only correction requests carry corrections.", field_name="corrections"
            )
        if data.get("type") in ("correction", "account_closure") and "categories" in data:
            raise ValidationError(
                "Categories apply to access and deletion requests.", field_name="categories"
            )


class RequestReceiptSchema(Schema):
    """What the customer gets back on submission (the same whether or not an account exists)."""

    id = fields.String()
    type = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    received_at = fields.AwareDateTime()
    due_date = fields.Date()
    due_date_provisional = fields.Boolean()


class LocalTextSchema(Schema):
    """A text in both languages."""

    zh_cn = fields.String(attribute="zh-CN", data_key="zh-CN")
    en = fields.String()


class ReasonSchema(Schema):
    """A reason shown to the customer, in both languages (with what to do, for blockers)."""

    code = fields.String()
    zh_cn = fields.String(attribute="zh-CN", data_key="zh-CN")
    en = fields.String()
    remedy = fields.Nested(LocalTextSchema)
    count = fields.Integer()


class ExportStatusSchema(Schema):
    """Where the export of an access request stands."""

    status = fields.String(metadata={"description": "queued, building, ready, failed, expired"})
    expires_at = fields.AwareDateTime()
    size = fields.Integer(metadata={"description": "Bytes of the ZIP"})
    downloads_left = fields.Integer()


class ProgressSchema(Schema):
    """How far the export's build got (access requests, once verified)."""

    state = fields.String(metadata={"description": "queued, building, ready, failed, expired"})
    categories_done = fields.Integer(metadata={"description": "Categories written so far"})
    categories_total = fields.Integer(metadata={"description": "Categories in the export"})


class KeptSchema(Schema):
    """Data kept despite the request: how much, why and until when."""

    table = fields.String()
    rows = fields.Integer()
    basis = fields.Nested(LocalTextSchema, allow_none=True)
    until = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    note = fields.Nested(LocalTextSchema, allow_none=True)


class CategoryOutcomeSchema(Schema):
    """What happened to one category."""

    deleted = fields.Integer()
    anonymised = fields.Integer()
    kept = fields.List(fields.Nested(KeptSchema))


class AccountSchema(Schema):
    """One shop account the request covers: the source system and the account's id there."""

    source = fields.String()
    key = fields.String()


class SourceStepSchema(Schema):
    """What one source system did for the request (no personal data)."""

    source = fields.String()
    action = fields.String(
        metadata={"description": "lookup, access, correction, deletion, closure"}
    )
    status = fields.String(metadata={"description": "started, done, failed, not_applicable"})
    rows = fields.Integer()
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)


class DeletionReceiptSchema(Schema):
    """The deletion receipt: counts per category, what was kept and why (no personal data)."""

    completed_at = fields.String()
    account_closed = fields.Boolean()
    keys_destroyed = fields.Boolean()
    categories = fields.Dict(keys=fields.String(), values=fields.Nested(CategoryOutcomeSchema))
    accounts = fields.List(fields.Nested(AccountSchema))
    sources = fields.List(fields.Nested(SourceStepSchema))


class CategoryNameSchema(Schema):
    """A category by code and name."""

    code = fields.String()
    name = fields.Nested(LocalTextSchema)


class CodedTextSchema(LocalTextSchema):
    """A code with its name in both languages."""

    code = fields.String()


class RecipientSchema(Schema):
    """Who receives which of the customer's categories, why and where (PIPL Art. 23, 39)."""

    id = fields.String()
    name = fields.Nested(LocalTextSchema)
    kind = fields.Nested(CodedTextSchema)
    categories = fields.List(fields.Nested(CategoryNameSchema))
    purpose = fields.Nested(LocalTextSchema)
    country = fields.Nested(CodedTextSchema)
    cross_border = fields.Boolean(metadata={"description": "Outside the shop's home country."})
    contact = fields.String()


class EvidenceItemSchema(Schema):
    """A document given for a request on someone else's behalf (never its content)."""

    id = fields.String()
    kind = fields.String()
    uploaded_at = fields.AwareDateTime()
    deleted = fields.Boolean()


class OnBehalfStatusSchema(Schema):
    """A request made for someone else: the relationship and where the evidence check stands."""

    relationship = fields.String()
    evidence_status = fields.String(metadata={"description": "awaiting, accepted, rejected"})
    evidence_kinds = fields.List(
        fields.String(), metadata={"description": "Documents this relationship can prove with."}
    )
    evidence = fields.List(fields.Nested(EvidenceItemSchema))


class RequestStatusSchema(RequestReceiptSchema):
    """The customer's view of their request."""

    jurisdiction = fields.String()
    categories = fields.List(fields.String(), allow_none=True)
    status_changed_at = fields.AwareDateTime()
    verified_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    working_days_left = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Working days until the due date while the request is open "
            "(negative when overdue); null once it is closed."
        },
    )
    overdue = fields.Boolean(metadata={"description": "Open and past its due date."})
    can_cancel = fields.Boolean()
    reasons = fields.List(fields.Nested(ReasonSchema))
    export = fields.Nested(ExportStatusSchema, allow_none=True)
    progress = fields.Nested(ProgressSchema, allow_none=True)
    cooling_off_until = fields.AwareDateTime(allow_none=True)
    receipt = fields.Nested(DeletionReceiptSchema, allow_none=True)
    accounts = fields.List(
        fields.Nested(AccountSchema),
        metadata={"description": "The shop accounts your verified contact matched."},
    )
    sources = fields.List(
        fields.Nested(SourceStepSchema),
        metadata={"description": "Each source system's part in the request, step by step."},
    )
    on_behalf = fields.Nested(OnBehalfStatusSchema, allow_none=True)
    recipients = fields.List(
        fields.Nested(RecipientSchema),
        metadata={
            "description": "Who receives the categories of an access request (all when it "
            "names none), and whether they are abroad; empty for other requests."
        },
    )
    recipients_rights = fields.Nested(
        LocalTextSchema, metadata={"description": "How to exercise rights against recipients."}
    )


class RequestSummarySchema(RequestReceiptSchema):
    """One line of the customer's list of their requests."""

    status_changed_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    working_days_left = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    can_cancel = fields.Boolean()


class RequestListSchema(Schema):
    """The requests of the signed-in customer, newest first."""

    requests = fields.List(fields.Nested(RequestSummarySchema))


class VerifySchema(StrictSchema):
    """The one-time code."""

    code = SafeString(required=True, validate=validate.Length(min=1, max=16))


class TokenSchema(Schema):
    """A bearer token scoped to the verified subject."""

    status = fields.String()
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class AcceptedSchema(Schema):
    """A queued action."""

    status = fields.String()
    detail = fields.String()
