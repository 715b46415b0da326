"""``privacy datamap``: check the data map against the live sources, or draft one."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import AppGroup

from privacy_service.datamap.check import advice, check
from privacy_service.datamap.scan import scan, to_yaml
from privacy_service.db import make_engine
from privacy_service.web.context import runtime


@click.group(cls=AppGroup)
def datamap():
    """Where personal data lives."""


@datamap.command("check")
def datamap_check():
    """Check the data map against the live databases; exits 1 on any problem.

    Then advises (without failing) an index for each contact column no index serves.
    """
    rt = runtime()
    problems = check(rt.policies.datamap, rt.sources)
    if problems:
        for problem in problems:
            click.echo(f"PROBLEM: {problem}", err=True)
        sys.exit(1)
    for line in advice(rt.policies.datamap, rt.sources):
        click.echo(f"ADVICE: {line}")
    dm = rt.policies.datamap
    tables = sum(len(s.tables) for s in dm.sources.values())
    fields = sum(1 for _ in dm.fields())
    for source in dm.sources.values():
        contacts = ", ".join(f"{k}: {c}" for k, c in source.contacts.items()) or "none"
        via = "the service itself" if source.kind == "vault" else source.url_name
        click.echo(f"source {source.name}: reachable through {via}; contacts {contacts}")
    if not dm.contact_sources():
        click.echo(
            "note: no source declares identity contacts; only customers registered in the "
            "service's directory can make requests"
        )
    for name in rt.policies.fallbacks:
        click.echo(f"note: {name} not in {rt.settings.policies_dir}; using the shipped default")
    click.echo(f"data map OK: {len(dm.sources)} sources, {tables} tables, {fields} fields")


@datamap.command("scan")
@click.option("--source", "source_name", help="A source of the data map to scan.")
@click.option("--url-env", help="Or: the environment variable holding a database URL.")
@click.option("--identity", help="The customer table (guessed when not given).")
@click.option("--name", "draft_name", default=None, help="Source name in the draft.")
def datamap_scan(source_name, url_env, identity, draft_name):
    """Draft a data map from a live database (prints YAML to edit; changes nothing)."""
    rt = runtime()
    if bool(source_name) == bool(url_env):
        raise click.UsageError("give --source NAME or --url-env VAR")
    if source_name:
        if source_name not in rt.sources:
            raise click.UsageError(f"{source_name!r} is not a SQL source of the data map")
        engine = rt.sources[source_name]
        url_env = rt.policies.datamap.sources[source_name].url_name
    else:
        if not os.environ.get(url_env):
            raise click.UsageError(f"{url_env} is not set")
        engine = make_engine(os.environ[url_env], immediate=False)
    try:
        draft = scan(engine, identity=identity)
    except Exception as exc:  # unreachable or unreadable: say which, never the URL
        click.echo(f"cannot scan through {url_env} ({type(exc).__name__})", err=True)
        sys.exit(1)
    click.echo(
        to_yaml(draft, source=draft_name or source_name or "shop", url_env=url_env), nl=False
    )
