"""``privacy config`` and ``privacy routes``: what this instance runs with."""

from __future__ import annotations

import json
import os

import click
from flask import current_app
from flask.cli import with_appcontext

from privacy_service.config import Settings
from privacy_service.crypto.keyring import DEV_KEYRING_FILE
from privacy_service.web.context import runtime


@click.command("config")
@with_appcontext
def show_config():
    """Print the effective settings; for each secret, whether it is set and where it comes from."""
    settings = runtime().settings
    summary = settings.public_summary()
    dev_ring = os.path.join(settings.instance_dir, DEV_KEYRING_FILE)
    from_dev_ring = ("secret_key", "keys", "index_key", "audit_key")
    for name in Settings.SECRET_FIELDS:
        var = "PRIVACY_" + name.upper()
        if os.environ.get(var):
            summary[name] = f"set (environment {var})"
        elif os.environ.get(var + "_FILE"):
            summary[name] = f"set (file named by {var}_FILE: {os.environ[var + '_FILE']})"
        elif not settings.is_production and name in from_dev_ring and os.path.exists(dev_ring):
            summary[name] = f"set (development key ring {dev_ring})"
        elif getattr(settings, name):
            summary[name] = "set (configuration)"
        else:
            summary[name] = "unset"
    if not settings.keys and not settings.keys_file and not settings.is_production:
        summary["active_key"] = summary["active_key"] or f"from the development key ring {dev_ring}"
    click.echo(json.dumps(summary, indent=2, ensure_ascii=False))


@click.command("routes")
@with_appcontext
def routes():
    """List the HTTP routes."""
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = ",".join(sorted(rule.methods - {"HEAD", "OPTIONS"}))
        click.echo(f"{methods:12} {rule.rule}")
