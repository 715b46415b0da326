"""Per-IP rate limits on every endpoint (Flask-Limiter), one limiter per app.

Every endpoint has a per-IP ceiling (``PRIVACY_RATELIMIT_DEFAULT``); the identity-document API
counts per service token instead (``PRIVACY_RATELIMIT_SERVICE``). The endpoints that send or
check one-time codes, and the staff sign-in, have tighter per-IP limits shared between the API
and the pages (a caller cannot double its budget by switching between them), and a per-request
limit. The per-contact budgets live in ``budgets.py``. Limits are counted in the store named by
``PRIVACY_RATELIMIT_STORAGE_URL`` (Redis in production, so every process shares the counts).

The client IP is the socket's peer, unless ``PRIVACY_TRUSTED_PROXIES`` says how many reverse
proxies append to ``X-Forwarded-For``; only then does Werkzeug's ``ProxyFix`` read that header.
"""

from __future__ import annotations

import logging

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from privacy_service.config import Settings
from privacy_service.errors import Problem
from privacy_service.web.service_auth import current_service

log = logging.getLogger(__name__)

# (endpoint, setting, shared scope, methods): per-IP limits beyond the default.
ROUTE_LIMITS = (
    ("requests.Requests", "ratelimit_submit", "submit", ["POST"]),
    ("portal.submit", "ratelimit_submit", "submit", ["POST"]),
    ("requests.Verify", "ratelimit_verify", "verify", ["POST"]),
    ("portal.verify", "ratelimit_verify", "verify", ["POST"]),
    ("requests.ResendCode", "ratelimit_resend", "resend", ["POST"]),
    ("portal.resend", "ratelimit_resend", "resend", ["POST"]),
    ("dashboard.login", "ratelimit_login", "login", ["POST"]),
)
# Endpoints that act on one request's code: also limited per request id (any caller).
PER_REQUEST = ("requests.Verify", "portal.verify", "requests.ResendCode", "portal.resend")
# Probes and static assets: monitoring polls them, and they reveal nothing.
EXEMPT = ("health.healthz", "health.readyz", "_swagger_assets", "static")


def _request_key() -> str:
    return "request:" + str((request.view_args or {}).get("request_id", ""))


def _caller_service() -> str | None:

    try:
        return current_service()
    except Problem:
        return None


def _service_key() -> str:
    # Services are counted by name (several may share a NAT address); anyone else by IP.
    service = _caller_service()
    return f"service:{service}" if service else f"ip:{get_remote_address()}"


def install(app: Flask, settings: Settings) -> Limiter:
    """Attach ProxyFix (when configured) and a limiter with every route limit to ``app``."""
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.ratelimit_storage_url,
        default_limits=[settings.ratelimit_default],
        strategy="fixed-window",
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix=settings.ratelimit_key_prefix,
        # A store outage must not take the service down; the code budgets fail closed instead.
        swallow_errors=True,
    )
    views = app.view_functions
    for endpoint, setting, scope, methods in ROUTE_LIMITS:
        if endpoint in views:
            decorate = limiter.shared_limit(getattr(settings, setting), scope, methods=methods)
            views[endpoint] = decorate(views[endpoint])
    for endpoint in PER_REQUEST:
        if endpoint in views:
            decorate = limiter.shared_limit(
                settings.ratelimit_per_request,
                "per-request",
                key_func=_request_key,
                methods=["POST"],
                override_defaults=False,
            )
            views[endpoint] = decorate(views[endpoint])
    for endpoint in [e for e in views if e.startswith("identity_documents.")]:
        # The shop's services call in bulk (customs clearance); unauthenticated callers get
        # the ordinary per-IP limit.
        decorate = limiter.limit(
            lambda: settings.ratelimit_service if _caller_service() else settings.ratelimit_default,
            key_func=_service_key,
        )
        views[endpoint] = decorate(views[endpoint])
    for endpoint in EXEMPT:
        if endpoint in views:
            views[endpoint] = limiter.exempt(views[endpoint])
    app.extensions["privacy.limiter"] = limiter
    return limiter
