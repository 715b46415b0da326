"""The collaborators one app instance wires together, reachable from views, jobs and the CLI."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.orm import object_session

from exports.storage import LocalStorage, Storage
from exports.storage_db import DatabaseStorage
from exports.worker import ExportDeps
from privacy_service import notices
from privacy_service.config import Settings
from privacy_service.crypto import Vault
from privacy_service.datamap.collect import Collector
from privacy_service.db import Database, make_engine
from privacy_service.notices import Notice
from privacy_service.notify import Notifier
from privacy_service.policies import Policies
from retention.processor import ErasureDeps


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
    # Renders one customer notice to (subject, text) (privacy_service.notices.templates.renderer).
    render_notice: Callable[[Notice], tuple[str, str] | None] | None = None
    # The task queue (privacy_service.tasks.queue.TaskQueue), set up by the app factory.
    queue: object = None

    def collector(self) -> Collector:
        """A collector over the data map's sources."""
        return Collector(self.policies.datamap, self.sources)

    @property
    def storage(self) -> Storage:
        """Where export archives are kept (``PRIVACY_EXPORT_STORAGE``: local or database)."""
        if self.settings.export_storage == "database":
            return self._database_storage
        return LocalStorage(self.settings.exports_dir)

    @functools.cached_property
    def _database_storage(self) -> DatabaseStorage:
        # Its own pool, whose transactions do not take SQLite's write lock at BEGIN: a download
        # reads chunks while the request's session holds that lock (counting the download).
        return DatabaseStorage(make_engine(self.db.url, immediate=False))

    def export_deps(self) -> ExportDeps:
        """Everything the export worker needs, wired from this runtime."""
        s = self.settings

        def notify_ready(request) -> None:
            # Called inside the transaction that completes the export: written with it.
            notices.queue(
                object_session(request),
                request,
                "export_ready",
                days=s.export_ttl_days,
                downloads=s.export_max_downloads,
                url=f"/r/{request.id}",
            )

        return ExportDeps(
            new_session=self.db.new_session,
            vault=self.vault,
            policies=self.policies,
            collector=self.collector(),
            storage=self.storage,
            ttl_days=s.export_ttl_days,
            max_downloads=s.export_max_downloads,
            max_attempts=s.export_max_attempts,
            lease_seconds=s.export_lease_seconds,
            notify_ready=notify_ready,
            progress=self.queue.set_progress if self.queue is not None else None,
        )

    def erasure_deps(self) -> ErasureDeps:
        """Everything carrying out deletions and closures needs."""
        return ErasureDeps(
            new_session=self.db.new_session,
            collector=self.collector(),
            policies=self.policies,
            batch=self.settings.erasure_batch,
            lease_seconds=self.settings.erasure_lease_seconds,
        )

    def dispose(self) -> None:
        """Stop in-process queue consumers; close every pool (service database and sources)."""
        if self.queue is not None:
            self.queue.stop()
        if "_database_storage" in self.__dict__:
            self._database_storage.engine.dispose()
        self.db.dispose()
        for engine in self.sources.values():
            engine.dispose()

    @property
    def token_secret(self) -> str:
        """The key that signs customer bearer tokens."""
        return self.settings.secret_key
