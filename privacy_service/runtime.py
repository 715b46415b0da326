"""The collaborators one app instance wires together, reachable from views, jobs and the CLI."""

from __future__ import annotations

import dataclasses

from flask import current_app
from sqlalchemy.engine import Engine

from privacy_service.config import Settings
from privacy_service.crypto import Vault
from privacy_service.datamap.collect import Collector
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
    # An engine per SQL source of the data map (created lazily: nothing connects at start-up).
    sources: dict[str, Engine] = dataclasses.field(default_factory=dict)

    def collector(self) -> Collector:
        """A collector over the data map's sources."""
        return Collector(self.policies.datamap, self.sources)

    def dispose(self) -> None:
        """Close every pool (service database and sources)."""
        self.db.dispose()
        for engine in self.sources.values():
            engine.dispose()

    @property
    def token_secret(self) -> str:
        """The key that signs customer bearer tokens."""
        return self.settings.secret_key


def runtime() -> Runtime:
    """The current app's runtime (inside an app context)."""
    return current_app.extensions["privacy"]
