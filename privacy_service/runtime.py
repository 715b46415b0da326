"""The collaborators one app instance wires together, reachable from views, jobs and the CLI."""

from __future__ import annotations

import dataclasses

from flask import current_app

from privacy_service.config import Settings
from privacy_service.crypto import Vault
from privacy_service.db import Database
from privacy_service.notify import Notifier
from privacy_service.policies import Policies


@dataclasses.dataclass
class Runtime:
    """Settings, database, vault, policies and notifier of one app."""

    settings: Settings
    db: Database
    vault: Vault
    policies: Policies
    notifier: Notifier
    service_tokens: dict[str, bytes] = dataclasses.field(default_factory=dict)

    @property
    def token_secret(self) -> str:
        """The key that signs customer bearer tokens."""
        return self.settings.secret_key


def runtime() -> Runtime:
    """The current app's runtime (inside an app context)."""
    return current_app.extensions["privacy"]
