"""The identity-document API for the shop's other services (service tokens, not customer tokens).

ID numbers travel only in request and response bodies, never in URLs; every disclosure is
audited with its purpose.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from privacy_service.requests.schemas import Identifier, SafeString, StrictSchema
from privacy_service.subjects import identity
from privacy_service.web.context import runtime
from privacy_service.web.service_auth import current_service

blp = Blueprint(
    "identity_documents",
    __name__,
    url_prefix="/api/v1/identity-documents",
    description="Resident ID numbers held for customs clearance (service tokens only).",
)


class DocumentCreateSchema(StrictSchema):
    """A customer's ID number to store; name the customer by subject id or shop customer id."""

    subject_id = fields.String(validate=validate.Length(equal=36))
    customer_ref = SafeString(validate=validate.Length(min=1, max=64))
    id_number = Identifier("id_number", required=True)
    holder_name = SafeString(required=True, validate=validate.Length(min=1, max=64))

    @validates_schema
    def _one_customer(self, data, **_kwargs):
        if ("subject_id" in data) == ("customer_ref" in data):
            raise ValidationError("Give exactly one of subject_id or customer_ref.", "subject_id")


class DocumentSchema(Schema):
    """A document as services list it: the ID number masked."""

    id = fields.String()
    subject_id = fields.String()
    kind = fields.String()
    id_number_masked = fields.String(attribute="masked")
    created_by = fields.String()
    created_at = fields.AwareDateTime()
    last_read_at = fields.AwareDateTime(allow_none=True)


class DisclosureSchema(DocumentSchema):
    """A document disclosed for a stated purpose."""

    id_number = fields.String()
    holder_name = fields.String()


class PurposeSchema(StrictSchema):
    """Why the ID number is read (recorded in the audit log)."""

    purpose = fields.String(required=True, validate=validate.OneOf(identity.READ_PURPOSES))


class SearchSchema(StrictSchema):
    """Find documents by ID number (in the body, never in the URL)."""

    id_number = Identifier("id_number", required=True)


class MatchesSchema(Schema):
    """Documents with that ID number."""

    matches = fields.List(fields.Nested(DocumentSchema))


@blp.route("")
class Documents(MethodView):
    """Storing ID numbers."""

    @blp.arguments(DocumentCreateSchema)
    @blp.response(201, DocumentSchema)
    @blp.alt_response(401, description="Missing or invalid service token")
    @blp.alt_response(422, description="Invalid ID number or unknown customer (problem+json)")
    def post(self, data):
        """Store a customer's ID number (checksum-validated) for customs clearance."""
        service = current_service()
        session = runtime().db.session
        document = identity.store(session, service=service, **data)
        session.commit()
        return document


@blp.route("/search")
class Search(MethodView):
    """Finding customers by ID number."""

    @blp.arguments(SearchSchema)
    @blp.response(200, MatchesSchema)
    def post(self, data):
        """Documents holding this ID number, found through the blind index."""
        current_service()
        return {"matches": identity.find(runtime().db.session, data["id_number"])}


@blp.route('/<uuid(missing="identity document"):document_id>')
class Document(MethodView):
    """Reading and deleting one document."""

    @blp.arguments(PurposeSchema, location="query")
    @blp.response(200, DisclosureSchema)
    @blp.alt_response(404, description="No such document")
    def get(self, query, document_id):
        """Disclose the ID number for a purpose (audited)."""
        service = current_service()
        session = runtime().db.session
        document = identity.read(session, document_id, service=service, purpose=query["purpose"])
        session.commit()
        return document

    @blp.response(204)
    def delete(self, document_id):
        """Delete the document (clearance done, or the customer asked)."""
        service = current_service()
        session = runtime().db.session
        identity.delete(session, document_id, service=service)
        session.commit()
