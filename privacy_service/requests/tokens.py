"""Bearer tokens for verified customers: signed (HS256), expiring, scoped to one subject."""

from __future__ import annotations

import datetime as dt
import secrets

import jwt

from privacy_service.db import utcnow
from privacy_service.errors import Unauthorized

ISSUER = "privacy-service"
AUDIENCE = "privacy-customer"


def issue(secret: str, *, subject_id: str, request_id: str, ttl_seconds: int) -> str:
    """A token that lets its holder read and cancel the requests of ``subject_id`` only."""
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject_id,
        "rid": request_id,
        "iat": now,
        "exp": now + dt.timedelta(seconds=ttl_seconds),
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def subject_of(secret: str, authorization: str | None) -> str:
    """The subject id from an ``Authorization: Bearer`` header, or a 401 problem."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the access token from verification as 'Authorization: Bearer'.")
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(
            "The access token has expired; verify again.", slug="token-expired"
        ) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The access token is not valid.", slug="invalid-token") from exc
    return str(claims["sub"])
