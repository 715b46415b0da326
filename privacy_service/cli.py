"""The ``privacy`` command: one group per domain, calling the same services as the API."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup

from privacy_service import audit, migrate
from privacy_service.app import create_app
from privacy_service.jobs import JOBS, run_job
from privacy_service.web.context import runtime


def _create_app():
    from privacy_service.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # An expected error: its message says what to fix; a traceback would only hide it.
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main():
    """Operate the privacy service."""


# --- db ----------------------------------------------------------------------------------------


@main.group()
def db():
    """The service's own database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply Alembic migrations."""
    rt = runtime()
    migrate.upgrade(rt.db.engine, revision)
    click.echo(f"database at revision {migrate.current(rt.db.engine)}")


# --- calendar ----------------------------------------------------------------------------------


@main.group()
def calendar():
    """Working days and deadlines."""


@calendar.command("due")
@click.argument("date", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option(
    "--days",
    default=15,
    show_default=True,
    type=click.IntRange(1, 365),
    help="Working days to add.",
)
def calendar_due(date, days):
    """Print the due date DAYS working days after a request received on DATE."""
    deadline = runtime().policies.calendar.add_working_days(date.date(), days)
    click.echo(deadline.due_date.isoformat() + (" provisional" if deadline.provisional else ""))


@calendar.command("years")
def calendar_years():
    """Which years are known, and from which source."""
    cal = runtime().policies.calendar
    this_year = dt.date.today().year
    for year in range(this_year - 2, this_year + 3):
        if year in cal.official_years:
            source = "policies/calendar: " + cal.official_years[year].source
        elif cal.is_known(year):
            source = "chinesecalendar package"
        else:
            source = "UNKNOWN: deadlines reaching this year are provisional"
        click.echo(f"{year}  {source}")


@calendar.command("recompute")
def calendar_recompute():
    """Recompute provisional deadlines now (after adding a year under policies/calendar/)."""
    rt = runtime()
    from privacy_service.requests.deadlines import recompute_provisional

    session = rt.db.session
    changed = recompute_provisional(session, rt.policies)
    session.commit()
    click.echo(f"{changed} deadline(s) recomputed")


# --- audit -------------------------------------------------------------------------------------


@main.group("audit")
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


# --- keys --------------------------------------------------------------------------------------


@main.group()
def keys():
    """Key-encryption keys: status, rotation, retirement."""


@keys.command("status")
def keys_status():
    """Each KEK version: status, and how many data keys it wraps."""
    from sqlalchemy import func, select

    from privacy_service.crypto.keystore import DataKey, KeyVersion

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
    from privacy_service.crypto.keyring import KeyMaterialError
    from privacy_service.keys import rotation as rotations

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
    from privacy_service import audit
    from privacy_service.crypto.keyring import KeyMaterialError
    from privacy_service.keys.rotation import retire

    session = runtime().db.session
    try:
        retire(session, version)
    except KeyMaterialError as exc:
        raise click.ClickException(str(exc)) from exc
    audit.record(session, "keys.retired", actor="cli", details={"version": version})
    session.commit()
    click.echo(f"key version {version} retired; remove it from the key ring")


# --- jobs --------------------------------------------------------------------------------------


@main.group()
def jobs():
    """Scheduled jobs."""


@jobs.command("list")
def jobs_list():
    """The job table."""
    for spec in JOBS:
        click.echo(f"{spec.id:40} {spec.trigger} {json.dumps(spec.trigger_args)}")


@jobs.command("recover")
def jobs_recover():
    """Close purge runs and key rotations whose process died as interrupted, now."""
    from privacy_service.recovery import recover_abandoned

    rt = runtime()
    found = recover_abandoned(rt.db.session, rt.collector())
    click.echo(", ".join(f"{kind}: {n} interrupted" for kind, n in found.items()))


@jobs.command("run")
@click.argument("job_id", type=click.Choice([spec.id for spec in JOBS]))
def jobs_run(job_id):
    """Run one job now (under its lease, like the scheduler)."""
    spec = next(s for s in JOBS if s.id == job_id)
    count = run_job(runtime(), spec)
    click.echo("held by another process; skipped" if count is None else f"{job_id}: {count}")


# --- exports and the worker ---------------------------------------------------------------------


@main.command("worker")
def worker():
    """Run the background worker: builds exports and runs the scheduled jobs (Ctrl-C stops)."""
    from privacy_service.jobs import start_scheduler
    from privacy_service.recovery import recover_at_start

    rt = runtime()
    recover_at_start(rt)
    click.echo(f"worker started: {len(JOBS)} jobs; exports build as soon as they are queued")
    try:
        start_scheduler(rt, blocking=True)
    except (KeyboardInterrupt, SystemExit):
        click.echo("worker stopped")


@main.group()
def exports():
    """Access-request exports."""


@exports.command("build")
@click.option("--limit", type=int, default=None, help="Build at most this many.")
def exports_build(limit):
    """Build waiting exports now, in this process."""
    from exports.worker import run_pending

    built = run_pending(runtime().export_deps(), limit=limit)
    click.echo(f"{built} export(s) built")


@exports.command("retry")
@click.argument("request_id")
def exports_retry(request_id):
    """Queue a failed export again (after fixing the cause)."""
    from privacy_service.requests.models import ExportArchive

    rt = runtime()
    session = rt.db.session
    archive = session.get(ExportArchive, request_id)
    if archive is None or archive.status != ExportArchive.FAILED:
        raise click.ClickException("no failed export for that request")
    archive.status, archive.attempts, archive.error = ExportArchive.QUEUED, 0, None
    audit.record(session, "export.retried", actor="cli", request_id=request_id)
    session.commit()
    click.echo("queued")


# --- requests, holds, erasures ----------------------------------------------------------------


@main.group("requests")
def requests_group():
    """The privacy team's decisions on requests."""


@requests_group.command("list")
@click.option("--status", default=None, help="Only this status.")
def requests_list(status):
    """Requests with their status and due date (no personal data)."""
    from sqlalchemy import select

    from privacy_service.requests.models import DataRequest

    stmt = select(DataRequest).order_by(DataRequest.due_date)
    if status:
        stmt = stmt.where(DataRequest.status == status)
    for r in runtime().db.session.scalars(stmt.limit(500)):
        provisional = " (provisional)" if r.due_date_provisional else ""
        click.echo(f"{r.id}  {r.type:16} {r.status:20} due {r.due_date}{provisional}")


def _staff_actor(email: str) -> str:
    """The audit actor of a staff account named by its e-mail (decisions need a real member)."""
    from sqlalchemy import select

    from privacy_service.team.accounts import StaffUser

    member = (
        runtime()
        .db.session.scalars(select(StaffUser).where(StaffUser.email == email.strip().lower()))
        .first()
    )
    if member is None or member.disabled_at is not None:
        raise click.ClickException(
            f"--by must be the e-mail of an active staff account; {email!r} is not one "
            "(see 'privacy staff list', or create it with 'privacy staff create')"
        )
    if member.role not in ("agent", "admin"):
        raise click.ClickException(f"{member.email} is an auditor and cannot decide requests")
    return f"staff:{member.id}"


def _request(request_id):
    from privacy_service.requests.models import DataRequest

    found = runtime().db.session.get(DataRequest, request_id)
    if found is None:
        raise click.ClickException("no such request")
    return found


@requests_group.command("approve")
@click.argument("request_id")
@click.option(
    "--by", "actor", required=True, help="E-mail of the staff account deciding (audited)."
)
def requests_approve(request_id, actor):
    """Approve a correction (written at once) or a deletion (carried out by the worker)."""
    from privacy_service.errors import Problem
    from privacy_service.requests import staff

    rt = runtime()
    by = _staff_actor(actor)
    try:
        staff.approve(rt.db.session, rt.collector(), _request(request_id), actor=by)
    except Problem as exc:
        rt.db.session.rollback()
        message = exc.detail if not exc.errors else f"{exc.detail} {exc.errors}"
        raise click.ClickException(message) from exc
    rt.db.session.commit()
    click.echo(f"approved; status {_request(request_id).status}")


@requests_group.command("refuse")
@click.argument("request_id")
@click.option("--by", "actor", required=True, help="E-mail of the staff account deciding.")
@click.option("--reason-zh", required=True, help="The reason the customer reads, in Chinese.")
@click.option("--reason-en", required=True, help="The same reason in English.")
def requests_refuse(request_id, actor, reason_zh, reason_en):
    """Refuse a request with a reason (shown to the customer)."""
    from privacy_service.errors import Problem
    from privacy_service.requests import staff

    rt = runtime()
    by = _staff_actor(actor)
    try:
        staff.refuse(rt.db.session, _request(request_id), actor=by, zh=reason_zh, en=reason_en)
    except Problem as exc:
        raise click.ClickException(exc.detail) from exc
    rt.db.session.commit()
    click.echo("refused")


@requests_group.command("extend")
@click.argument("request_id")
@click.option("--by", "actor", required=True)
@click.option("--reason-zh", required=True, help="Why more time is needed, in Chinese.")
@click.option("--reason-en", required=True, help="The same reason in English.")
def requests_extend(request_id, actor, reason_zh, reason_en):
    """Extend the deadline once where the jurisdiction allows it; the customer is told why."""
    from privacy_service.errors import Problem
    from privacy_service.requests import extension

    rt = runtime()
    found = _request(request_id)
    try:
        extension.extend(
            rt.db.session,
            rt.policies,
            found,
            actor=f"staff:{actor}",
            reason_zh=reason_zh,
            reason_en=reason_en,
        )
    except Problem as exc:
        rt.db.session.rollback()
        raise click.ClickException(exc.detail) from exc
    rt.db.session.commit()
    click.echo(f"extended; due {found.due_date}")


@main.group("holds")
def holds_group():
    """Legal holds on a customer's data."""


@holds_group.command("set")
@click.option("--email", help="The customer's email (or --phone).")
@click.option("--phone")
@click.option("--category", default=None, help="One category; all when omitted.")
@click.option("--reason", required=True, help="Internal reason (never shown to the customer).")
@click.option("--until", "until", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--by", "actor", required=True)
def holds_set(email, phone, category, reason, until, actor):
    """Place a legal hold: deletion and closure keep what it covers."""
    from privacy_service import holds
    from privacy_service.subjects.directory import find_by_contact

    rt = runtime()
    by = _staff_actor(actor)
    if until.date() < dt.date.today():
        raise click.ClickException("--until is in the past: the hold would keep nothing")
    if bool(email) == bool(phone):
        raise click.ClickException("give --email or --phone")
    subject = find_by_contact(rt.db.session, "email" if email else "phone", email or phone)
    if subject is None:
        raise click.ClickException("no such customer")
    if category and category not in rt.policies.categories:
        raise click.ClickException(f"unknown category; one of {list(rt.policies.categories)}")
    hold = holds.place(
        rt.db.session,
        subject_id=subject.id,
        category=category,
        reason=reason,
        until=until.date(),
        actor=by,
    )
    rt.db.session.commit()
    click.echo(f"hold {hold.id} placed until {hold.until}")


@holds_group.command("release")
@click.argument("hold_id")
@click.option("--by", "actor", required=True)
def holds_release(hold_id, actor):
    """End a hold."""
    from privacy_service import holds

    rt = runtime()
    if holds.release(rt.db.session, hold_id, actor=_staff_actor(actor)) is None:
        raise click.ClickException("no such hold")
    rt.db.session.commit()
    click.echo("released")


@main.group("erasures")
def erasures_group():
    """Deletions and account closures."""


@erasures_group.command("run")
def erasures_run():
    """End due cooling-offs and carry out approved deletions and closures now."""
    from retention.processor import run_pending

    click.echo(f"{run_pending(runtime().erasure_deps())} erasure(s) completed")


@main.group()
def retention():
    """Retention rules and purges."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what would go.")
@click.option(
    "--batch",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows per batch.",
)
def retention_run(dry_run, batch):
    """One retention pass (or what it would remove), with a summary per rule."""
    from retention.engine import preview, run

    rt = runtime()
    session = rt.db.session
    if dry_run:
        counts = preview(rt.collector(), rt.policies, session)
        for rule, tables in counts.items():
            click.echo(
                f"{rule:24} would remove " + ", ".join(f"{t} {n}" for t, n in tables.items())
            )
        return
    with click.progressbar(length=0, label="purging", show_pos=True) as bar:
        record = run(
            rt.collector(),
            rt.policies,
            session,
            batch=batch,
            progress=lambda _r, n: bar.update(n),
        )
    for rule, tables in record.counts.items():
        click.echo(f"{rule:24} removed " + ", ".join(f"{t} {n}" for t, n in tables.items()))
    for error in record.errors:
        click.echo(f"ERROR in {error['rule']} ({error['table']}): {error['error_type']}", err=True)
    click.echo(f"run {record.id}: {record.status} in {record.seconds} s")
    if record.errors:
        sys.exit(1)


@retention.command("explain")
@click.argument("table")
@click.argument("row_id", type=int)
def retention_explain(table, row_id):
    """Why one row is kept, or when it will go."""
    from retention.engine import explain

    rt = runtime()
    click.echo(
        json.dumps(
            explain(rt.collector(), rt.policies, rt.db.session, table, row_id),
            ensure_ascii=False,
            indent=2,
        )
    )


@main.group("staff")
def staff_group():
    """Accounts of the privacy team."""


@staff_group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["agent", "admin", "auditor"]))
@click.option("--totp", is_flag=True, help="Enrol an authenticator app (second factor).")
@click.password_option(help="At least 12 characters (prompted when omitted).")
def staff_create(email, role, totp, password):
    """Create a staff account (passwords are stored as Argon2id hashes)."""
    import pyotp

    from privacy_service.team.accounts import create

    rt = runtime()
    try:
        user = create(rt.db.session, email=email, role=role, password=password, totp=totp)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    rt.db.session.commit()
    click.echo(f"staff account {user.email} ({role}) created; sign in at /staff/login")
    if totp:
        uri = pyotp.TOTP(user.totp_secret).provisioning_uri(
            name=user.email, issuer_name="privacy-service"
        )
        click.echo(f"add to the authenticator app: {uri}")


def _staff_member(email: str):
    from sqlalchemy import select

    from privacy_service.team.accounts import StaffUser

    user = (
        runtime()
        .db.session.scalars(select(StaffUser).where(StaffUser.email == email.strip().lower()))
        .first()
    )
    if user is None:
        raise click.ClickException(f"no staff account with the e-mail {email.strip().lower()}")
    return user


@staff_group.command("set-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["agent", "admin", "auditor"]))
def staff_set_role(email, role):
    """Change a member's role; their sessions end at once."""
    from privacy_service.team.accounts import set_role

    rt = runtime()
    set_role(rt.db.session, _staff_member(email), role, actor="cli")
    rt.db.session.commit()
    click.echo(f"role changed to {role}; every session of the account ended")


@staff_group.command("set-password")
@click.option("--email", required=True)
@click.password_option(help="At least 12 characters (prompted when omitted).")
def staff_set_password(email, password):
    """Set a member's password; their sessions end at once."""
    from privacy_service.team.accounts import set_password

    rt = runtime()
    try:
        set_password(rt.db.session, _staff_member(email), password, actor="cli")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    rt.db.session.commit()
    click.echo("password changed; every session of the account ended")


@staff_group.command("lock")
@click.option("--email", required=True)
@click.option("--minutes", type=click.IntRange(1, 525_600), help="Default: until unlocked.")
def staff_lock(email, minutes):
    """Lock an account (it cannot sign in); its sessions end at once."""
    from privacy_service.team.accounts import lock

    rt = runtime()
    lock(rt.db.session, _staff_member(email), actor="cli", minutes=minutes)
    rt.db.session.commit()
    click.echo("account locked; every session of the account ended")


@staff_group.command("unlock")
@click.option("--email", required=True)
def staff_unlock(email):
    """Lift a lock."""
    from privacy_service.team.accounts import unlock

    rt = runtime()
    unlock(rt.db.session, _staff_member(email), actor="cli")
    rt.db.session.commit()
    click.echo("account unlocked")


def _staff_changed(member, change: str, *, end_sessions: bool = False, **details) -> None:
    from privacy_service.team import sessions

    session = runtime().db.session
    if end_sessions:
        sessions.end_all(session, member.id)
    audit.record(
        session,
        "staff.changed",
        actor="cli",
        details={"staff_id": member.id, "change": change, **details},
    )
    session.commit()


@staff_group.command("list")
def staff_list():
    """Every staff account: e-mail, role, second factor, state."""
    from sqlalchemy import select

    from privacy_service.team.accounts import StaffUser

    for m in runtime().db.session.scalars(select(StaffUser).order_by(StaffUser.email)):
        state = "disabled" if m.disabled_at else "active"
        tfa = "2FA" if m.totp_enc else "no 2FA"
        click.echo(f"{m.email:40} {m.role:8} {tfa:7} {state}")


@staff_group.command("disable")
@click.option("--email", required=True)
def staff_disable(email):
    """Disable an account (it cannot sign in; its sessions end at once)."""
    from privacy_service.db import utcnow

    member = _staff_member(email)
    member.disabled_at = member.sessions_revoked_at = utcnow()
    _staff_changed(member, "disabled", end_sessions=True)
    click.echo(f"{member.email} disabled")


@staff_group.command("enable")
@click.option("--email", required=True)
def staff_enable(email):
    """Enable a disabled account again."""
    member = _staff_member(email)
    member.disabled_at = None
    _staff_changed(member, "enabled")
    click.echo(f"{member.email} enabled")


@staff_group.command("reset-2fa")
@click.option("--email", required=True)
def staff_reset_2fa(email):
    """Give a member a new authenticator secret (printed once) and end their sessions."""
    import pyotp

    member = _staff_member(email)
    member.totp_secret = pyotp.random_base32()
    _staff_changed(member, "second_factor_reset", end_sessions=True)
    uri = pyotp.TOTP(member.totp_secret).provisioning_uri(
        name=member.email, issuer_name="privacy-service"
    )
    click.echo(f"add to the authenticator app: {uri}")


@staff_group.command("sign-out")
@click.option("--email", required=True)
def staff_sign_out(email):
    """End every open session of a member."""
    member = _staff_member(email)
    _staff_changed(member, "signed_out", end_sessions=True)
    click.echo(f"{member.email}: sessions ended")


# --- demo --------------------------------------------------------------------------------------


@main.group()
def demo():
    """The demo shop."""


@demo.command("seed")
@click.option("--customers", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--orders-per-customer", default=12, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--browsing-per-customer", default=200, show_default=True, type=click.IntRange(0, 10_000_000)
)
@click.option("--seed", "seed_value", default=2024, show_default=True, help="Random seed.")
@click.option("--reset", is_flag=True, help="Drop the demo shop's rows and seed it again.")
def demo_seed(customers, orders_per_customer, browsing_per_customer, seed_value, reset):
    """Create the demo shop, or grow it to --customers (demo@example.com / 13800138000 included).

    Run again with a larger --customers to add customers; --reset starts the shop over.
    """
    from privacy_service.demo import refusal, seed

    rt = runtime()
    if rt.settings.is_production:
        click.echo("refused: demo data is never written in production (PRIVACY_ENV=production)")
        sys.exit(1)
    _demo_staff(rt)  # the service's own database: the printed dashboard login works either way
    skip = refusal(rt)
    if skip:
        # Not an error: `make run` goes on to serve the operator's shop.
        click.echo(f"demo seed skipped: {skip}")
        return
    with click.progressbar(length=customers, label="customers") as bar:
        summary = seed(
            rt.db.session,
            rt.sources["shop"],
            customers=customers,
            orders_per_customer=orders_per_customer,
            browsing_per_customer=browsing_per_customer,
            seed_value=seed_value,
            progress=bar.update,
            support_engine=rt.sources.get("support"),
            reset=reset,
        )
    if summary is None:
        click.echo(
            f"demo shop already has {customers} customers or more "
            "(a larger --customers grows it; --reset starts over)"
        )
        return
    rows = ", ".join(f"{t} {n}" for t, n in sorted(summary.rows.items()))
    click.echo(f"demo shop seeded: {summary.customers} customers ({summary.added} added); {rows}")


DEMO_STAFF = ("admin@shop.example", "demo-admin-password")


def _demo_staff(rt) -> None:
    """A demo admin for the dashboard, in development only (printed by ``make run``)."""
    from sqlalchemy import select

    from privacy_service.team.accounts import StaffUser, create

    if rt.settings.is_production:
        return
    session = rt.db.session
    if session.scalars(select(StaffUser).where(StaffUser.email == DEMO_STAFF[0])).first() is None:
        create(session, email=DEMO_STAFF[0], role="admin", password=DEMO_STAFF[1])
        session.commit()
        click.echo(f"demo staff login: {DEMO_STAFF[0]} / {DEMO_STAFF[1]} (development only)")


# --- datamap -----------------------------------------------------------------------------------


@main.group()
def datamap():
    """Where personal data lives."""


@datamap.command("check")
def datamap_check():
    """Check the data map against the live databases; exits 1 on any problem."""
    from privacy_service.datamap.check import check

    rt = runtime()
    problems = check(rt.policies.datamap, rt.sources)
    if problems:
        for problem in problems:
            click.echo(f"PROBLEM: {problem}", err=True)
        sys.exit(1)
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
    from privacy_service.datamap.scan import scan, to_yaml
    from privacy_service.db import make_engine

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


# --- config ------------------------------------------------------------------------------------


@main.command("config")
def show_config():
    """Print the effective settings; for each secret, whether it is set and where it comes from."""
    import os

    from privacy_service.config import Settings
    from privacy_service.crypto.keyring import DEV_KEYRING_FILE

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


@main.command("routes")
def routes():
    """List the HTTP routes."""
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = ",".join(sorted(rule.methods - {"HEAD", "OPTIONS"}))
        click.echo(f"{methods:12} {rule.rule}")


if __name__ == "__main__":
    main()
