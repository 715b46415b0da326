"""Authenticating the shop's other services (not customers) by bearer token.

Tokens are configured as ``PRIVACY_SERVICE_TOKENS="customs:<token>,orders:<token>"`` (or a file
via ``PRIVACY_SERVICE_TOKENS_FILE``); the service name becomes the audit actor.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import request

from privacy_service.config import ConfigError
from privacy_service.errors import Unauthorized
from privacy_service.web.context import runtime

MIN_TOKEN_LENGTH = 24


def parse_tokens(spec: str) -> dict[str, bytes]:
    """``name:token`` pairs to ``{name: sha256(token)}``; short tokens are refused."""
    tokens = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, token = part.partition(":")
        if not sep or not name or len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"PRIVACY_SERVICE_TOKENS entries are 'name:token' with tokens of at least "
                f"{MIN_TOKEN_LENGTH} characters"
            )
        tokens[name] = hashlib.sha256(token.encode()).digest()
    return tokens


def current_service() -> str:
    """The calling service's name, or a 401 problem."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A service token is required.", slug="service-token-required")
    digest = hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).digest()
    found = None
    for name, expected in runtime().service_tokens.items():
        if hmac.compare_digest(digest, expected):  # check all: no early exit
            found = name
    if found is None:
        raise Unauthorized("The service token is not valid.", slug="invalid-service-token")
    return found
