"""``privacy requests``: the privacy team's decisions on requests, from a terminal."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask.cli import AppGroup
from sqlalchemy import select

from privacy_service import operations
from privacy_service.cli.staff import deciding_actor
from privacy_service.errors import Problem
from privacy_service.requests import extension, staff
from privacy_service.requests.models import DataRequest
from privacy_service.web.context import runtime


@click.group("requests", cls=AppGroup)
def requests_group():
    """The privacy team's decisions on requests."""


@requests_group.command("list")
@click.option("--status", default=None, help="Only this status.")
def requests_list(status):
    """Requests with their status and due date (no personal data)."""
    stmt = select(DataRequest).order_by(DataRequest.due_date)
    if status:
        stmt = stmt.where(DataRequest.status == status)
    for r in runtime().db.session.scalars(stmt.limit(500)):
        provisional = " (provisional)" if r.due_date_provisional else ""
        click.echo(f"{r.id}  {r.type:16} {r.status:20} due {r.due_date}{provisional}")


def _request(request_id):
    found = runtime().db.session.get(DataRequest, request_id)
    if found is None:
        raise click.ClickException("no such request")
    return found


def _decide(operation: Callable[[], object]) -> None:
    """Run a decision and commit it; on a refusal nothing is kept and the reason is printed."""
    session = runtime().db.session
    try:
        operation()
    except Problem as exc:
        session.rollback()
        message = exc.detail if not exc.errors else f"{exc.detail} {exc.errors}"
        raise click.ClickException(message) from exc
    session.commit()


@requests_group.command("approve")
@click.argument("request_id")
@click.option(
    "--by", "actor", required=True, help="E-mail of the staff account deciding (audited)."
)
def requests_approve(request_id, actor):
    """Approve a correction (written at once) or a deletion (carried out by the worker)."""
    rt = runtime()
    by = deciding_actor(actor)
    found = _request(request_id)
    _decide(lambda: operations.approve(rt.db.session, rt, found, actor=by))
    click.echo(f"approved; status {_request(request_id).status}")


@requests_group.command("refuse")
@click.argument("request_id")
@click.option("--by", "actor", required=True, help="E-mail of the staff account deciding.")
@click.option("--reason-zh", required=True, help="The reason the customer reads, in Chinese.")
@click.option("--reason-en", required=True, help="The same reason in English.")
def requests_refuse(request_id, actor, reason_zh, reason_en):
    """Refuse a request with a reason (shown to the customer)."""
    rt = runtime()
    by = deciding_actor(actor)
    found = _request(request_id)
    _decide(lambda: staff.refuse(rt.db.session, found, actor=by, zh=reason_zh, en=reason_en))
    click.echo("refused")


@requests_group.command("extend")
@click.argument("request_id")
@click.option("--by", "actor", required=True, help="E-mail of the staff account deciding.")
@click.option("--reason-zh", required=True, help="Why more time is needed, in Chinese.")
@click.option("--reason-en", required=True, help="The same reason in English.")
def requests_extend(request_id, actor, reason_zh, reason_en):
    """Extend the deadline once where the jurisdiction allows it; the customer is told why."""
    rt = runtime()
    by = deciding_actor(actor)
    found = _request(request_id)
    _decide(
        lambda: extension.extend(
            rt.db.session, rt.policies, found, actor=by, reason_zh=reason_zh, reason_en=reason_en
        )
    )
    click.echo(f"extended; due {found.due_date}")
