"""Connecting to the data map's sources: each SQL source's URL comes from the environment.

A source names the environment variable that holds its SQLAlchemy URL (``url_env``); the URL
(with its credentials) never appears in YAML. Variables that are also settings of the service
(``PRIVACY_SHOP_DATABASE_URL``, ``PRIVACY_SOURCE_SUPPORT_URL``) take the setting's value, which
has a development default under ``instance/``; any other variable must be set. The older
``url_setting: shop_database_url`` form still works. Errors name the data map's file and line,
the source and the variable, never the URL.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError

from privacy_service.config import ConfigError
from privacy_service.datamap.http_source import HttpSource
from privacy_service.policies.datamap import DataMap, SourceSpec

# A source database that does not answer (a dropped route, a firewall) fails in this time and
# is retried, instead of holding a lookup or an export for the operating system's TCP timeout.
CONNECT_TIMEOUT_SECONDS = 10
DRIVER_HINTS = {
    "mysql": "install the [mysql] extra (PyMySQL): pip install 'privacy-service[mysql]'",
    "mariadb": "install the [mysql] extra (PyMySQL): pip install 'privacy-service[mysql]'",
    "postgresql": "install the [postgres] extra (psycopg): pip install 'privacy-service[postgres]'",
}


def source_url(source: SourceSpec, settings, environ: Mapping[str, str] | None = None):
    """The URL of a SQL source, or None when its variable is not set."""
    if source.url_setting:
        return getattr(settings, source.url_setting) or None
    environ = os.environ if environ is None else environ
    var = source.url_env
    field = var[len("PRIVACY_") :].lower() if var.startswith("PRIVACY_") else None
    names = {f.name for f in dataclasses.fields(settings)}
    if field in names and field not in settings.SECRET_FIELDS:
        return getattr(settings, field) or None
    return environ.get(var) or None


def _instance_folder(url: str, settings) -> None:
    # The development defaults (sqlite:///instance/shop.db, support.db) live in instance/,
    # which may not exist yet; any other missing folder is the operator's to fix (and says so).
    instance = Path(settings.instance_dir)
    if url.startswith("sqlite:///") and Path(url[len("sqlite:///") :]).parent == instance:
        instance.mkdir(parents=True, exist_ok=True, mode=0o700)


def _http_source(source: SourceSpec, url: str, environ, where: str, problems: list):

    environ = os.environ if environ is None else environ
    token = None
    if source.http.get("token_env"):
        token = environ.get(source.http["token_env"])
        if not token:
            problems.append(f"{where}: environment variable {source.http['token_env']} is not set")
    if not url.startswith(("http://", "https://")):
        problems.append(f"{where}: {source.url_name} is not an http(s) URL")
    return HttpSource(source, url, token)


def engines_for(
    datamap: DataMap,
    settings,
    make_engine: Callable[..., Engine],
    environ: Mapping[str, str] | None = None,
) -> dict[str, Engine]:
    """An engine per SQL source, a client per HTTP source (no connection yet).

    Raises a ``ConfigError`` naming every problem.
    """
    engines, problems = {}, []
    for name, source in datamap.sources.items():
        if source.kind == "vault":
            continue
        where = f"{datamap.where(name)}: source {name!r}"
        url = source_url(source, settings, environ)
        if url is None:
            problems.append(f"{where}: environment variable {source.url_name} is not set")
            continue
        if source.kind == "http":
            engines[name] = _http_source(source, url, environ, where, problems)
            continue
        _instance_folder(url, settings)
        try:
            engines[name] = make_engine(
                url, immediate=False, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except ArgumentError:
            problems.append(f"{where}: {source.url_name} is not a valid SQLAlchemy URL")
        except ImportError as exc:
            backend = url.split(":", 1)[0].split("+", 1)[0]
            hint = DRIVER_HINTS.get(backend, "install its database driver")
            problems.append(f"{where}: no driver for {source.url_name} ({exc.name}); {hint}")
    if problems:
        raise ConfigError("cannot start: " + "; ".join(problems))
    return engines
