"""Settings: defaults, ``PRIVACY_*`` environment variables, and a fail-fast ``validate()``.

One object holds every setting. Keys and secrets come only from the environment or from files
whose paths the environment names; they are never read from the database or from the policy files.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from limits import parse_many

PACKAGE_DIR = Path(__file__).resolve().parent
# The source checkout (or, installed, the folder above site-packages' privacy_service/): only
# the default instance folder is placed here; nothing the service runs on is read from it.
PROJECT_ROOT = PACKAGE_DIR.parent
# The demo shop's policy folder, shipped inside the package: the default PRIVACY_POLICIES_DIR.
DEMO_POLICIES = PACKAGE_DIR / "demo_policies"


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
    # The demo's customer-service desk (its own database; MariaDB in a realistic set-up).
    source_support_url: str = ""
    policies_dir: str = str(DEMO_POLICIES)
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
    # Export archives: "local" (exports_dir, one machine) or "database" (rows every node reads).
    export_storage: str = "local"

    # The task queue: empty = a SQLite file under instance/; redis://... in production.
    queue_url: str = ""
    queue_name: str = "privacy"
    # Consumer threads inside the web process (make run); production runs `privacy worker`.
    queue_consumer: bool = False
    queue_workers: int = 2
    # The customer lane only (contact lookups, notices) inside the web process: tests.
    notice_consumer: bool = False
    # How long a worker holds an outbox message while sending it (then another may resend it).
    notice_lease_seconds: int = 60
    # Tries of one message over a failing channel before it is given up (logged, counted).
    notice_max_attempts: int = 10
    # Days a sent (or given-up) notice's record is kept before the nightly purge deletes it.
    notice_keep_days: int = 30
    # A failed task is retried after this many seconds, doubled per attempt.
    task_retry_seconds: int = 5

    max_content_length: int = 64 * 1024

    # Rate limits (docs/security.md). Limits use the `limits` notation: "10 per hour;20 per day".
    # The store is shared by every process that points at the same Redis; memory:// is per process.
    ratelimit_storage_url: str = "memory://"
    ratelimit_key_prefix: str = "privacy"
    ratelimit_default: str = "300 per minute"  # per IP, per endpoint, every endpoint
    ratelimit_submit: str = "60 per minute;600 per hour"  # new requests per IP (API + pages)
    ratelimit_verify: str = "60 per minute;600 per hour"  # code checks per IP
    ratelimit_resend: str = "30 per minute;300 per hour"  # code resends per IP
    ratelimit_per_request: str = "20 per minute"  # verify + resend on one request
    ratelimit_login: str = "20 per minute;200 per hour"  # staff sign-in attempts per IP
    ratelimit_service: str = "3000 per minute"  # identity-document API, per service token
    # Wrong codes per contact across all its requests: per (contact, IP), then contact-wide.
    ratelimit_wrong_codes_per_contact_ip: str = "20 per hour;40 per day"
    ratelimit_wrong_codes_per_contact: str = "50 per hour;100 per day"
    # Codes sent (new requests and resends) per contact: per (contact, IP), then contact-wide.
    ratelimit_codes_per_contact_ip: str = "100 per hour;300 per day"
    ratelimit_codes_per_contact: str = "500 per day"
    # Failed staff sign-ins: per (account, IP) first, account-wide only as a high ceiling.
    ratelimit_login_failures_per_account_ip: str = "5 per 15 minutes;20 per day"
    ratelimit_login_failures_per_account: str = "100 per hour"
    # Reverse proxies in front of the service that append to X-Forwarded-For (0: trust none).
    trusted_proxies: int = 0
    scheduler_enabled: bool = False
    log_format: str = ""
    # Consumer threads of the customer lane (contact lookups and notices) per process.
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
        if not settings.source_support_url:
            settings.source_support_url = f"sqlite:///{Path(settings.instance_dir) / 'support.db'}"
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
            "notice_keep_days",
        ):
            if getattr(self, name) <= 0:
                problems.append(f"PRIVACY_{name.upper()} must be positive")
        problems.extend(_ratelimit_problems(self))
        if self.trusted_proxies < 0:
            problems.append("PRIVACY_TRUSTED_PROXIES must be 0 or more")
        if self.export_storage not in ("local", "database"):
            problems.append("PRIVACY_EXPORT_STORAGE must be 'local' or 'database'")
        if self.queue_url and not self.queue_url.startswith(
            ("sqlite:///", "redis://", "rediss://", "unix://")
        ):
            problems.append("PRIVACY_QUEUE_URL must be empty, sqlite:///<file> or redis://...")
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


def _ratelimit_problems(settings: Settings) -> list[str]:
    problems = []
    for field in dataclasses.fields(settings):
        name = field.name
        if name.startswith("ratelimit_") and name not in (
            "ratelimit_storage_url",
            "ratelimit_key_prefix",
        ):
            try:
                parse_many(getattr(settings, name))
            except ValueError:
                problems.append(f"PRIVACY_{name.upper()} is not a rate limit like '10 per hour'")
    scheme = settings.ratelimit_storage_url.split("://", 1)[0]
    if scheme not in ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster"):
        problems.append("PRIVACY_RATELIMIT_STORAGE_URL must be memory:// or a redis:// URL")
    return problems


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
