"""``privacy audit``: verify the tamper-evident audit log."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from privacy_service import audit
from privacy_service.web.context import runtime


@click.group("audit", cls=AppGroup)
def audit_group():
    """The tamper-evident audit log."""


@audit_group.command("verify")
def audit_verify():
    """Check the hash chain; exits 1 when any entry was edited, deleted or reordered."""
    result = audit.verify_chain(runtime().db.session)
    if result.ok:
        click.echo(f"audit chain intact: {result.entries} entries")
        return
    for problem in result.problems:
        click.echo(f"TAMPERED: {problem}", err=True)
    click.echo(f"audit chain BROKEN ({result.entries} entries read)", err=True)
    sys.exit(1)
