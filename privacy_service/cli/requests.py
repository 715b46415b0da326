"""``privacy requests``: the privacy team's decisions on requests, from a terminal."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask.cli import AppGroup
from sqlalchemy import select

from privacy_service import operations
from privacy_service.cli.common import by_option, committing, deciding_actor
from privacy_service.requests import extension, staff
from privacy_service.requests.models import DataRequest
from privacy_service.runtime import Runtime
from privacy_service.web.context import runtime

# A reason the customer is told comes in Chinese (--reason-zh, worded per command) and English.
reason_en_option = click.option("--reason-en", required=True, help="The same reason in English.")


@click.group("requests", cls=AppGroup)
def requests_group():
    """The privacy team's decisions on requests."""


def decision(name: str) -> Callable[[Callable], click.Command]:
    """A ``privacy requests NAME REQUEST_ID --by E-MAIL`` command (a staff decision)."""

    def register(command: Callable) -> click.Command:
        return requests_group.command(name)(click.argument("request_id")(by_option(command)))

    return register


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


def _decide(
    request_id: str, actor: str, decision: Callable[[Runtime, DataRequest, str], object]
) -> DataRequest:
    """Run ``decision(rt, request, by)`` as the staff member ``actor`` and commit it.

    On a refusal nothing is kept and the reason is printed. Returns the request.
    """
    rt = runtime()
    by = deciding_actor(actor)
    found = rt.db.session.get(DataRequest, request_id)
    if found is None:
        raise click.ClickException("no such request")
    with committing():
        decision(rt, found, by)
    return found


@decision("approve")
def requests_approve(request_id, actor):
    """Approve a correction (written at once) or a deletion (carried out by the worker)."""
    found = _decide(
        request_id, actor, lambda rt, r, by: operations.approve(rt.db.session, rt, r, actor=by)
    )
    click.echo(f"approved; status {found.status}")


@decision("refuse")
@click.option("--reason-zh", required=True, help="The reason the customer reads, in Chinese.")
@reason_en_option
def requests_refuse(request_id, actor, reason_zh, reason_en):
    """Refuse a request with a reason (shown to the customer)."""
    _decide(
        request_id,
        actor,
        lambda rt, r, by: staff.refuse(rt.db.session, r, actor=by, zh=reason_zh, en=reason_en),
    )
    click.echo("refused")


@decision("extend")
@click.option("--reason-zh", required=True, help="Why more time is needed, in Chinese.")
@reason_en_option
def requests_extend(request_id, actor, reason_zh, reason_en):
    """Extend the deadline once where the jurisdiction allows it; the customer is told why."""
    found = _decide(
        request_id,
        actor,
        lambda rt, r, by: extension.extend(
            rt.db.session, rt.policies, r, actor=by, reason_zh=reason_zh, reason_en=reason_en
        ),
    )
    click.echo(f"extended; due {found.due_date}")
