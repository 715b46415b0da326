"""``privacy keys``: key-encryption keys: status, rotation, retirement."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from privacy_service.cli.common import committing
from privacy_service.crypto.keyring import KeyMaterialError
from privacy_service.crypto.keystore import DataKey, KeyVersion
from privacy_service.keys import rotation as rotations
from privacy_service.keys.rotation import retire
from privacy_service.web.context import runtime


@click.group(cls=AppGroup)
def keys():
    """Key-encryption keys: status, rotation, retirement."""


@keys.command("status")
def keys_status():
    """Each KEK version: status, and how many data keys it wraps."""
    rt = runtime()
    session = rt.db.session
    rt.vault.active_version(session)
    session.commit()
    counts = dict(
        session.execute(
            select(DataKey.kek_version, func.count()).group_by(DataKey.kek_version)
        ).all()
    )
    for row in session.scalars(select(KeyVersion).order_by(KeyVersion.version)):
        in_ring = "in key ring" if row.version in rt.vault.keyring.keks else "NOT in key ring"
        click.echo(
            f"version {row.version}: {row.status:12} {counts.get(row.version, 0):>9} data keys  "
            f"{in_ring}"
        )
    click.echo(f"shredded owners: {counts.get(None, 0)}")


@keys.command("rotate")
@click.option(
    "--version",
    "version",
    type=int,
    default=None,
    help="Activate this version (already added to PRIVACY_KEYS in every process).",
)
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def keys_rotate(version, batch):
    """Add a KEK version, make it active, and re-wrap every data key (resumable).

    After a crash, running it again (without --version) finishes the same version.
    """
    rt = runtime()
    session = rt.db.session
    known = set(rt.vault.keyring.keks)
    try:
        run = rotations.begin(session, rt.vault, rt.settings, version)
    except KeyMaterialError as exc:
        raise click.ClickException(str(exc)) from exc
    version = run.target_version
    if version not in known:
        click.echo(f"added key version {version}")
    if run.resumes:
        click.echo(f"resuming the interrupted rotation to key version {version}")
    total = rotations.pending_count(session, version)
    session.commit()
    click.echo(f"key version {version} is active; re-wrapping {total} data key(s)")
    with click.progressbar(length=total, label="re-wrapping") as bar:
        result = rotations.rewrap(
            rt.db.new_session,
            rt.vault,
            version,
            batch=batch,
            progress=bar.update,
            rotation_id=run.id,
        )
    rotations.finish(session, run, result)
    click.echo(f"re-wrapped {result.rewrapped}; {result.remaining} left on other versions")


@keys.command("retire")
@click.argument("version", type=int)
@click.confirmation_option(prompt="Retire this key version? Its data keys must all be re-wrapped.")
def keys_retire(version):
    """Retire a KEK version no data key uses any more (then remove it from PRIVACY_KEYS)."""
    with committing(KeyMaterialError) as session:
        retire(session, version, actor="cli")
    click.echo(f"key version {version} retired; remove it from the key ring")
