"""What the command groups share: one commit per command, refusals as plain errors, ``--by``.

A command that changes data runs inside ``committing()``: the runtime's session is committed when
the block ends, and an operation that refuses (a ``Problem``, or one of the exceptions the
command names) leaves nothing behind and prints its reason as click's ``Error: ...`` (exit 1).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
from sqlalchemy.orm import Session

from privacy_service.errors import Problem
from privacy_service.team import accounts
from privacy_service.web.context import runtime

# The option naming the staff member behind a decision (the audit actor).
by_option = click.option(
    "--by", "actor", required=True, help="E-mail of the staff account deciding (audited)."
)


@contextlib.contextmanager
def committing(*refusals: type[Exception]) -> Iterator[Session]:
    """The runtime's session, committed after the block; rolled back when the block refuses.

    A ``Problem`` prints its detail (and field errors), an exception of ``refusals`` its message.
    """
    session = runtime().db.session
    try:
        yield session
    except click.ClickException:
        session.rollback()
        raise
    except Problem as exc:
        session.rollback()
        message = exc.detail if not exc.errors else f"{exc.detail} {exc.errors}"
        raise click.ClickException(message) from exc
    except refusals as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    session.commit()


def deciding_actor(email: str) -> str:
    """The audit actor of a staff account named by its e-mail (decisions need a real member)."""
    member = accounts.by_email(runtime().db.session, email)
    if member is None or member.disabled_at is not None:
        raise click.ClickException(
            f"--by must be the e-mail of an active staff account; {email!r} is not one "
            "(see 'privacy staff list', or create it with 'privacy staff create')"
        )
    if member.role not in ("agent", "admin"):
        raise click.ClickException(f"{member.email} is an auditor and cannot decide requests")
    return f"staff:{member.id}"
