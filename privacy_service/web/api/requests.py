"""The customer API: ``/api/v1/requests``. Views only declare; services do the work."""

from __future__ import annotations

from flask import request as http_request
from flask.views import MethodView
from flask_smorest import Blueprint

from exports.delivery import download
from privacy_service import operations
from privacy_service.errors import Problem, TooManyRequests, Unprocessable
from privacy_service.requests import behalf, service, tokens, verification
from privacy_service.requests.schemas import (
    AcceptedSchema,
    EvidenceItemSchema,
    RequestCreateSchema,
    RequestListSchema,
    RequestReceiptSchema,
    RequestStatusSchema,
    TokenSchema,
    VerifySchema,
)
from privacy_service.web import idempotency
from privacy_service.web.context import runtime
from privacy_service.web.forms import zip_download

CUSTOMER_REQUESTER = "requester"

blp = Blueprint(
    "requests",
    __name__,
    url_prefix="/api/v1/requests",
    description="Data-subject requests: access, correction, deletion, account closure.",
)
# In the paths, a request id that is no UUID is answered like a missing request (404 "No such
# request.") before the view runs (web/converters.py).


def _language(data: dict) -> str:
    if data.get("language"):
        return data["language"]
    best = http_request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh-CN")
    return "en" if best == "en" else "zh-CN"


@blp.route("")
class Requests(MethodView):
    """Submitting requests."""

    @blp.arguments(RequestCreateSchema)
    @blp.response(202, RequestReceiptSchema)
    @blp.alt_response(422, description="Invalid body (problem+json)")
    def post(self, data):
        """Submit a request; a one-time code goes to the contact if it belongs to a customer.

        The answer is the same whether or not it does. Send an ``Idempotency-Key`` header to
        make retries safe.
        """
        rt = runtime()
        session = rt.db.session

        def work():
            created = service.submit(session, rt, data, language=_language(data))
            return RequestReceiptSchema().dump(created), 202

        return idempotency.run_once(session, data, work)

    @blp.response(200, RequestListSchema)
    @blp.alt_response(401, description="Missing or invalid bearer token")
    def get(self):
        """My requests: every request of the signed-in customer, newest first (bearer token).

        Any request's token lists them all: the token names the customer, not one request.
        """
        rt = runtime()
        found = service.list_for_subject(rt.db.session, _bearer_subject(rt))
        return {"requests": [service.status_view(r, rt) for r in found]}


@blp.route('/<uuid(missing="request"):request_id>/verify')
class Verify(MethodView):
    """Verifying identity with the one-time code."""

    @blp.arguments(VerifySchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(400, description="Wrong or expired code (problem+json)")
    @blp.alt_response(429, description="Too many wrong codes; ask for a new one")
    def post(self, data, request_id):
        """Verify the request with the code; answers a bearer token for this customer.

        For a request verified before (its token expired), a code from ``resend-code`` signs the
        customer in again: a new token, and nothing about the request changes.
        """
        rt = runtime()
        session = rt.db.session
        signed = operations.verify(session, rt, request_id, data["code"])
        verified, result = signed.request, signed.result
        if result.outcome == verification.VOID:
            raise TooManyRequests(
                "This code can no longer be used; ask for a new one.", slug="code-void"
            )
        if result.outcome == verification.EXPIRED:
            raise Problem(
                "The code has expired; ask for a new one.",
                status=400,
                slug="code-expired",
                title="Code expired",
            )
        if verified is None:
            raise Problem(
                f"The code is not correct. Attempts left: {result.attempts_left}.",
                status=400,
                slug="invalid-code",
                title="Wrong code",
                errors={"code": ["Not correct."]},
            )
        ttl = rt.settings.token_ttl_seconds
        token = tokens.issue(
            rt.token_secret,
            subject_id=service.token_subject(verified),
            request_id=verified.id,
            ttl_seconds=ttl,
        )
        return {
            "status": verified.status,
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
        }


@blp.route('/<uuid(missing="request"):request_id>/resend-code')
class ResendCode(MethodView):
    """Asking for a new one-time code."""

    @blp.response(202, AcceptedSchema)
    @blp.alt_response(429, description="Cool-down or send limit (problem+json)")
    def post(self, request_id):
        """Send a new code; the previous code stops working.

        Works for a verified (or closed) request too: a customer whose token expired asks for a
        code here and signs in again with ``verify``. A cool-down applies while an unused code is
        outstanding, and at most a few codes go out per request per day.
        """
        rt = runtime()
        session = rt.db.session
        service.resend_code(session, rt, request_id)
        session.commit()
        return {
            "status": "accepted",
            "detail": "If the contact belongs to an account, a new code is on its way.",
        }


def _bearer_subject(rt) -> str:
    """The customer the request's bearer token names (401 problem without a valid one)."""
    return tokens.subject_of(rt.token_secret, http_request.headers.get("Authorization"))


def _authorised(request_id: str):
    rt = runtime()
    return rt, service.get_for_subject(rt.db.session, request_id, _bearer_subject(rt))


@blp.route('/<uuid(missing="request"):request_id>')
class RequestStatus(MethodView):
    """Following a request."""

    @blp.response(200, RequestStatusSchema)
    @blp.alt_response(401, description="Missing or invalid bearer token")
    @blp.alt_response(404, description="No such request for this customer")
    def get(self, request_id):
        """The request's status, due date and working days left (bearer token required)."""
        rt, found = _authorised(request_id)
        return service.status_view(found, rt)


@blp.route('/<uuid(missing="request"):request_id>/export')
class Export(MethodView):
    """Downloading an access request's export."""

    @blp.response(200, description="The ZIP (application/zip)")
    @blp.alt_response(409, description="Not ready yet")
    @blp.alt_response(410, description="Expired, or all downloads used")
    def get(self, request_id):
        """Download the export ZIP (bearer token; limited downloads; expires)."""
        rt, found = _authorised(request_id)
        chunks, size = download(rt.db.session, found, rt.storage, rt.vault)
        return zip_download(found.id, chunks, size)


@blp.route('/<uuid(missing="request"):request_id>/evidence')
class EvidenceUpload(MethodView):
    """Documents proving the requester's relationship (requests on someone else's behalf)."""

    @blp.response(201, EvidenceItemSchema)
    @blp.alt_response(409, description="Not a request on someone's behalf, or review is over")
    @blp.alt_response(422, description="Unknown kind, or not a PDF, PNG or JPEG")
    def post(self, request_id):
        """Upload one document (multipart: ``kind``, ``file``; bearer token of the requester).

        Kinds by relationship: guardian - guardianship, birth_certificate, household_register;
        deceased_relative - death_certificate, relationship_proof; agent - authorisation; any -
        requester_id. PDF, PNG or JPEG, at most 5 MB, 5 documents. Stored sealed; the privacy
        team reviews it; deleted some time after the request is closed.
        """
        rt, found = _authorised(request_id)
        upload = http_request.files.get("file")
        if upload is None:
            raise Unprocessable(errors={"file": ["Attach the document as 'file'."]})
        doc = behalf.add_evidence(
            rt.db.session,
            found,
            kind=http_request.form.get("kind", ""),
            filename=upload.filename or "",
            content=upload.read(behalf.MAX_BYTES + 1),
            actor=CUSTOMER_REQUESTER,
        )
        rt.db.session.commit()
        return {"id": doc.id, "kind": doc.kind, "uploaded_at": doc.uploaded_at, "deleted": False}


@blp.route('/<uuid(missing="request"):request_id>/cancel')
class Cancel(MethodView):
    """Cancelling a request."""

    @blp.response(200, RequestStatusSchema)
    @blp.alt_response(409, description="Not cancellable in the current status")
    def post(self, request_id):
        """Cancel the request while that is allowed (bearer token required)."""
        rt, found = _authorised(request_id)
        service.cancel(rt.db.session, found)
        rt.db.session.commit()
        return service.status_view(found, rt)
