"""Settings: defaults, ``PRIVACY_*`` environment variables, and a fail-fast ``validate()``.

One object holds every setting. Keys and secrets come only from the environment or from files
whose paths the environment names; they are never read from the database or from ``policies/``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """The settings cannot be used; the message says what is missing or wrong."""


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from exc


@dataclasses.dataclass
class Settings:
    """Every setting the service reads, with its default.

    Environment variable names are the field names upper-cased with a ``PRIVACY_`` prefix
    (``database_url`` -> ``PRIVACY_DATABASE_URL``). Secret values may instead be given as a file
    path in ``PRIVACY_<NAME>_FILE``.
    """

    env: str = "development"
    instance_dir: str = str(PROJECT_ROOT / "instance")
    database_url: str = ""
    # The demo shop's database (a source system of the data map).
    shop_database_url: str = ""
    policies_dir: str = str(PROJECT_ROOT / "policies")
    timezone: str = "Asia/Shanghai"

    # Secrets. ``secret_key`` signs bearer tokens and sessions; ``keys`` holds the versioned
    # key-encryption keys ("1:<base64>,2:<base64>"); ``index_key`` keys blind indexes;
    # ``audit_key`` keys the audit chain's HMAC.
    secret_key: str = ""
    keys: str = ""
    active_key: str = ""
    index_key: str = ""
    audit_key: str = ""
    # Tokens of the shop's other services for the identity-document API: "name:token,...".
    service_tokens: str = ""
    # Set when PRIVACY_KEYS came from PRIVACY_KEYS_FILE: where `privacy keys rotate` adds a key.
    keys_file: str = ""
    data_key_cache_size: int = 50_000
    data_key_cache_seconds: int = 300

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_timeout: int = 10
    mail_from: str = "privacy@shop.example"
    privacy_team_email: str = ""  # deadline reminders go here
    sms_webhook_url: str = ""
    # Where customers reach the customer page: links in notices start with it.
    public_url: str = "http://127.0.0.1:8000"
    outbox_log: str = ""

    otp_ttl_seconds: int = 600
    otp_max_attempts: int = 5
    otp_resend_cooldown_seconds: int = 60
    otp_max_sends: int = 5
    token_ttl_seconds: int = 3600
    # The customer page's sign-in lasts while it is used (each page renews it for
    # ``token_ttl_seconds``) and never longer than this after the code was entered.
    portal_session_max_seconds: int = 86400
    otp_send_window_seconds: int = 86400
    unverified_request_ttl_days: int = 14

    exports_dir: str = ""
    export_ttl_days: int = 7
    export_max_downloads: int = 5
    export_max_attempts: int = 3
    export_lease_seconds: int = 900
    erasure_lease_seconds: int = 900
    erasure_batch: int = 5000

    max_content_length: int = 64 * 1024
    scheduler_enabled: bool = False
    log_format: str = ""
    delivery_threads: int = 4

    # Which settings are secrets: never logged, loadable from *_FILE.
    SECRET_FIELDS = ("secret_key", "keys", "index_key", "audit_key", "service_tokens")
    REQUIRED_IN_PRODUCTION = ("secret_key", "keys", "index_key", "audit_key")

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Build settings from defaults, then the environment, then explicit overrides."""
        environ = os.environ if environ is None else environ
        settings = cls()
        for field in dataclasses.fields(cls):
            name = "PRIVACY_" + field.name.upper()
            raw = environ.get(name)
            if raw is None and field.name in cls.SECRET_FIELDS and environ.get(name + "_FILE"):
                raw = _read_secret_file(environ[name + "_FILE"], name + "_FILE")
                if field.name == "keys":
                    settings.keys_file = environ[name + "_FILE"]
            if raw is None:
                continue
            setattr(settings, field.name, _coerce(field, raw, name))
        for key, value in (overrides or {}).items():
            if not hasattr(settings, key) or key.isupper():
                raise ConfigError(f"unknown setting {key!r}")
            setattr(settings, key, value)
        if not settings.database_url:
            settings.database_url = f"sqlite:///{Path(settings.instance_dir) / 'privacy.db'}"
        if not settings.shop_database_url:
            settings.shop_database_url = f"sqlite:///{Path(settings.instance_dir) / 'shop.db'}"
        if not settings.exports_dir:
            settings.exports_dir = str(Path(settings.instance_dir) / "exports")
        if not settings.outbox_log:
            settings.outbox_log = str(Path(settings.instance_dir) / "outbox.log")
        if not settings.log_format:
            settings.log_format = "json" if settings.env == "production" else "text"
        return settings

    @property
    def is_production(self) -> bool:
        """True when running with ``PRIVACY_ENV=production``."""
        return self.env == "production"

    def validate(self) -> None:
        """Refuse unusable settings, naming every problem at once."""
        problems = []
        if self.env not in ("development", "production"):
            problems.append(f"PRIVACY_ENV must be 'development' or 'production', not {self.env!r}")
        if self.is_production:
            for name in self.REQUIRED_IN_PRODUCTION:
                if not getattr(self, name):
                    var = "PRIVACY_" + name.upper()
                    problems.append(f"{var} (or {var}_FILE) is required in production")
            if len(self.secret_key) < 32 and self.secret_key:
                problems.append("PRIVACY_SECRET_KEY must be at least 32 characters")
            if not (self.smtp_host or self.sms_webhook_url):
                problems.append(
                    "PRIVACY_SMTP_HOST or PRIVACY_SMS_WEBHOOK_URL is required in production: "
                    "one-time codes must reach customers"
                )
            if self.database_url.startswith("sqlite") and ":memory:" in self.database_url:
                problems.append("PRIVACY_DATABASE_URL must not be an in-memory database")
        for name in (
            "otp_ttl_seconds",
            "otp_max_attempts",
            "token_ttl_seconds",
            "portal_session_max_seconds",
            "otp_send_window_seconds",
        ):
            if getattr(self, name) <= 0:
                problems.append(f"PRIVACY_{name.upper()} must be positive")
        if not Path(self.policies_dir).is_dir():
            problems.append(f"PRIVACY_POLICIES_DIR {self.policies_dir!r} is not a directory")
        if problems:
            raise ConfigError("cannot start: " + "; ".join(problems))

    def public_summary(self) -> dict[str, Any]:
        """Settings safe to print: secrets reduced to whether they are set."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = (
                ("set" if value else "unset") if field.name in self.SECRET_FIELDS else value
            )
        return out


def _read_secret_file(path: str, var: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{var} names {path!r}, which cannot be read: {exc.strerror}") from exc


def _coerce(field: dataclasses.Field, raw: str, name: str) -> Any:
    if field.type in ("int", int):
        return _int(raw, name)
    if field.type in ("bool", bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw
