"""The application factory: ``create_app`` wires the service together in small, readable steps.

Each ``configure_*`` step does one thing; their order is the start-up. Nothing connects to a
database or reads key material at import time. The web layer (``privacy_service.web``) and the
CLI (``privacy_service.cli``) are the only callers of the core that know about Flask.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path

from privacy_service import budgets, compiled_templates, logs, notices
from privacy_service.budgets import Budgets
from privacy_service.config import ConfigError, Settings
from privacy_service.crypto import Vault, load_keyring
from privacy_service.crypto.keyring import dev_secrets
from privacy_service.datamap.sources import engines_for
from privacy_service.db import Database, make_engine
from privacy_service.jobs import start_scheduler
from privacy_service.notices.templates import NoticeTemplateError, NoticeTexts, renderer
from privacy_service.notify import Notifier
from privacy_service.policies import load_policies
from privacy_service.recovery import recover_at_start
from privacy_service.runtime import Runtime
from privacy_service.tasks import consumer, dispatch
from privacy_service.tasks.queue import TaskQueue
from privacy_service.web import ratelimit
from privacy_service.web.api.choices import blp as choices_blp
from privacy_service.web.api.identity import blp as identity_blp
from privacy_service.web.api.requests import blp as requests_blp
from privacy_service.web.bodies import check_api_body, check_no_nul
from privacy_service.web.context import budget_caller
from privacy_service.web.converters import UUIDConverter, openapi_schema
from privacy_service.web.dashboard.views import bp as dashboard_bp
from privacy_service.web.errors import register_error_handlers
from privacy_service.web.forms import API_DOCS_CSP, install_csrf
from privacy_service.web.health import bp as health_bp
from privacy_service.web.portal import account as _portal_account  # noqa: F401 - its pages
from privacy_service.web.portal import i18n as portal_i18n
from privacy_service.web.portal.views import bp as portal_bp
from privacy_service.web.service_auth import parse_tokens

log = logging.getLogger(__name__)
API_VERSION = "1.0.0"
# The JSON API's blueprints: bearer-token or service-header authenticated, so exempt from CSRF.
API_BLUEPRINTS = (requests_blp, identity_blp, choices_blp)


class ProblemApi(Api):
    """flask-smorest's Api, answering errors as RFC 9457 problem details."""

    def _register_error_handlers(self):
        register_error_handlers(self._app)


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application; ``config_overrides`` win over the environment."""
    settings = _load_settings(config_overrides)
    logs.configure(settings.log_format)
    _private_instance(settings)
    app = Flask(
        __name__,
        instance_path=settings.instance_dir,
        static_folder="web/static",
        template_folder="web/templates",  # app-wide templates (Swagger UI's page)
    )
    # Templates compiled by an earlier app of this process are not compiled again.
    app.jinja_options = {**app.jinja_options, "bytecode_cache": compiled_templates.PAGES}
    rt = configure_runtime(app, settings, config_overrides)
    configure_notices(rt)
    configure_flask(app, settings)
    configure_translations(app)
    configure_converters(app)
    configure_blueprints(app)
    configure_api_docs_assets(app)
    configure_limits(app, settings)
    configure_csrf(app)
    configure_sessions(app, rt)
    configure_queue(rt)
    if settings.scheduler_enabled:
        configure_scheduler(app, rt)
    # Objects alive after start-up stay for good: keep them out of every full GC pass (the
    # collector streams millions of rows, and full passes over them dominated its time).
    gc.freeze()
    return app


def configure_runtime(
    app: Flask, settings: Settings, overrides: Mapping[str, Any] | None
) -> Runtime:
    """The collaborators of this app (database, vault, policies, notifier, sources).

    The vault is this app's own: its database's sessions carry it (``crypto.vault_of``), so
    another app created later in the same process (tests, tools) does not change its keys.
    """
    vault = _make_vault(settings, overrides)
    policies = load_policies(settings.policies_dir)
    rt = Runtime(
        settings=settings,
        db=Database(settings.database_url, vault=vault),
        vault=vault,
        policies=policies,
        notifier=None,
        service_tokens=parse_tokens(settings.service_tokens),
        sources=engines_for(policies.datamap, settings, make_engine),
    )
    rt.notifier = Notifier(settings, rt.db)
    app.extensions["privacy"] = rt
    return rt


def configure_queue(rt: Runtime) -> None:
    """The task queue: tasks queued at commit; consumers in this process when configured."""
    rt.queue = TaskQueue(rt)
    dispatch.install(rt.db.session_factory, rt.queue)
    s = rt.settings
    if s.queue_consumer or s.notice_consumer:
        rt.queue.consumers = consumer.start_in_process(
            rt, rt.queue, bulk=s.queue_consumer, fast=s.queue_consumer or s.notice_consumer
        )
        atexit.register(rt.queue.stop)


def configure_sessions(app: Flask, rt: Runtime) -> None:
    """Every request ends its session (and so its transaction), even inside an outer context."""
    app.teardown_request(rt.db.remove)
    app.teardown_appcontext(rt.db.remove)


def _load_settings(overrides: Mapping[str, Any] | None) -> Settings:
    settings = Settings.load(overrides=overrides)
    if not settings.is_production and not settings.secret_key:
        # Development: secrets live in instance/dev-keyring.json (created once, mode 0600).
        settings.secret_key = dev_secrets(Path(settings.instance_dir))["secret_key"]
    settings.validate()
    return settings


def _private_instance(settings: Settings) -> None:
    """``instance/`` and every file in it readable by the service's user only (0700 / 0600).

    It holds the development key ring, the SQLite databases, the outbox of codes and exports.
    SQLite files are created here first so that they never exist with wider permissions.
    """
    root = Path(settings.instance_dir)
    root.mkdir(parents=True, exist_ok=True)
    for url in (settings.database_url, settings.shop_database_url):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            path = Path(url.removeprefix("sqlite:///"))
            if root in path.parents and not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    try:
        root.chmod(0o700)
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                path.chmod(0o600)
            elif path.is_dir():
                path.chmod(0o700)
    except OSError:  # a file owned by someone else: the operator's choice, not ours to fix
        log.warning("cannot restrict permissions under instance/")


def _make_vault(settings: Settings, overrides: Mapping[str, Any] | None) -> Vault:
    return Vault(
        load_keyring(settings),
        # A rotation in another process appends a KEK to the key file; read it again then.
        reload=lambda: load_keyring(Settings.load(overrides=overrides)),
        cache_size=settings.data_key_cache_size,
        cache_seconds=settings.data_key_cache_seconds,
    )


def configure_notices(rt: Runtime) -> None:
    """Customer notices: templates checked now; written to the outbox with their change."""
    # Templates are checked now: a broken one stops the start-up, naming the file.
    texts = NoticeTexts(rt.settings.policies_dir, labels=rt.policies.labels)
    try:
        texts.validate()
    except NoticeTemplateError as exc:
        raise ConfigError(f"cannot start: {exc}") from exc
    rt.render_notice = renderer(texts, rt.settings.public_url)
    notices.install(rt.db.session_factory, rt.render_notice)


def configure_flask(app: Flask, settings: Settings) -> None:
    """Flask and OpenAPI settings, JSON output and the error handlers."""
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        JSON_SORT_KEYS=False,
        API_TITLE="privacy-service",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.ensure_ascii = False
    register_error_handlers(app)


def configure_translations(app: Flask) -> None:
    """Flask-Babel: the customer page's texts in its language (gettext catalogs)."""
    portal_i18n.install(app)


def configure_converters(app: Flask) -> None:
    """``<uuid:…>`` in routes: an id that is no UUID is answered before any view runs."""
    app.url_map.converters["uuid"] = UUIDConverter


def configure_blueprints(app: Flask) -> None:
    """The API (flask-smorest), the customer's pages, the staff's pages, health checks."""
    api = ProblemApi(app)
    api.register_converter(UUIDConverter, openapi_schema)  # documented as a UUID string
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.extensions["privacy.api"] = api
    app.register_blueprint(portal_bp)  # the customer's pages at /
    app.register_blueprint(dashboard_bp)  # the privacy team's pages at /staff/
    app.register_blueprint(health_bp)  # /healthz and /readyz
    app.before_request(check_no_nul)
    app.before_request(check_api_body)


def configure_limits(app: Flask, settings: Settings) -> None:
    """Route limits (flask-limiter) and the per-contact budgets in the same store."""
    limiter = ratelimit.install(app, settings)
    app.extensions["privacy.budgets"] = Budgets(limiter.storage, settings)
    budgets.install_caller(budget_caller)


def configure_csrf(app: Flask) -> None:
    """Flask-WTF's CSRF check on the pages' forms (after the limits: a flood meets them first)."""
    install_csrf(app, exempt=API_BLUEPRINTS)


def configure_api_docs_assets(app: Flask) -> None:
    """Swagger UI's files, served from the installed package, and its page's CSP."""

    # Swagger UI served from the installed package: the docs page loads nothing from the internet.
    @app.get("/api/docs/assets/<path:filename>")
    def _swagger_assets(filename: str):
        return send_from_directory(str(swagger_ui_path), filename, max_age=86400)

    @app.after_request
    def _api_docs_policy(response):
        if request.path == "/api/docs":
            response.headers["Content-Security-Policy"] = API_DOCS_CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
        return response


def _stop_scheduler(scheduler) -> None:
    if scheduler.running:  # tests (and /readyz checks) may have stopped it already
        scheduler.shutdown(wait=False)


def configure_scheduler(app: Flask, rt: Runtime) -> None:
    """The in-process scheduler (PRIVACY_SCHEDULER_ENABLED), after recovering killed runs."""
    recover_at_start(rt)  # runs a killed process left "running" become "interrupted"
    scheduler = start_scheduler(rt)
    atexit.register(_stop_scheduler, scheduler)
    log.info("scheduler started", extra={"jobs": len(scheduler.get_jobs())})
    app.extensions["privacy.scheduler"] = scheduler
