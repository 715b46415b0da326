"""``Idempotency-Key`` for POSTs: a retry with the same key and body replays the first answer.

The record is written in the same transaction as the work, so a crash leaves neither or both.
Two concurrent first tries with one key race on the primary key; the loser rolls back and
replays the winner's answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from flask import Response, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privacy_service.errors import Problem, Unprocessable
from privacy_service.requests.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _key_hash() -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Unprocessable(errors={HEADER: ["1 to 255 printable characters."]})
    scope = f"{request.method} {request.path}\n{key}"
    return hashlib.sha256(scope.encode()).hexdigest()


def _fingerprint(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _respond(body: dict, status: int, replayed: bool = False) -> Response:
    # A ready Response: flask-smorest passes it through instead of serialising the dict again.
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Problem(
            "This Idempotency-Key was used with a different request body.",
            status=422,
            slug="idempotency-key-reused",
            title="Idempotency key reused",
        )
    return _respond(json.loads(record.body), record.status_code, replayed=True)


def run_once(
    session: Session,
    payload: dict,
    work: Callable[[], tuple[dict, int]],
) -> Response:
    """Run ``work`` (which returns a serialised body and status) once per key, and commit.

    What the work starts (the contact lookup, a code's notice) is written in its transaction and
    leaves on the queue after the commit, so a replayed key starts nothing again.
    """
    key_hash = _key_hash()
    if key_hash is None:
        body, status = work()
        session.commit()
        return _respond(body, status)
    fingerprint = _fingerprint(payload)
    existing = session.get(IdempotencyRecord, key_hash)
    if existing is not None:
        return _replay(existing, fingerprint)
    body, status = work()
    session.add(
        IdempotencyRecord(
            key_hash=key_hash,
            fingerprint=fingerprint,
            status_code=status,
            body=json.dumps(body, ensure_ascii=False),
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        winner = session.get(IdempotencyRecord, key_hash)
        if winner is None:
            raise
        return _replay(winner, fingerprint)
    return _respond(body, status)
