"""Handing a finished export to its verified owner: expiry, download limit, audit, decryption."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import update
from sqlalchemy.orm import Session

from exports.storage import Storage
from privacy_service import audit
from privacy_service.crypto.stream import open_sealed, owner_of
from privacy_service.db import utcnow
from privacy_service.errors import Conflict, Gone
from privacy_service.requests.behalf import ACCEPTED, requester_of
from privacy_service.requests.models import DataRequest, ExportArchive


def download(
    session: Session, request: DataRequest, storage: Storage, vault
) -> tuple[Iterator[bytes], int]:
    """Count one download and return the decrypted ZIP as a stream, with its size.

    ``409`` before the export is ready; ``410`` after expiry or once the downloads are used up.
    The caller's session is committed here (the count must stick even if the transfer fails).
    """
    archive = session.get(ExportArchive, request.id)
    if request.on_behalf:
        # Never before the team accepted the requester's evidence (the archive is only queued on
        # approval; this holds even if one were built some other way).
        requester = requester_of(session, request)
        if requester is None or requester.evidence_status != ACCEPTED:
            raise Conflict(
                "The export is released once the privacy team has reviewed the request.",
                slug="export-awaiting-review",
                title="Not ready",
            )
    if (
        request.type != "access"
        or archive is None
        or archive.status in (ExportArchive.QUEUED, ExportArchive.BUILDING, ExportArchive.FAILED)
        or request.status != "completed"
    ):
        raise Conflict("The export is not ready yet.", slug="export-not-ready", title="Not ready")
    if archive.status == ExportArchive.EXPIRED or archive.expires_at <= utcnow():
        raise Gone("The download link has expired; submit a new request.", slug="export-expired")
    counted = session.execute(
        update(ExportArchive)
        .where(
            ExportArchive.request_id == request.id,
            ExportArchive.status == ExportArchive.READY,
            ExportArchive.downloads < ExportArchive.max_downloads,
        )
        .values(downloads=ExportArchive.downloads + 1)
        .returning(ExportArchive.downloads)
    ).one_or_none()
    if counted is None:
        session.rollback()
        raise Gone(
            "All downloads of this export are used; submit a new request.",
            slug="export-downloads-used",
        )
    audit.record(
        session,
        "export.downloaded",
        actor="customer",
        request_id=request.id,
        subject_id=request.subject_id,
        details={"download": counted[0]},
    )
    stream = storage.reader(archive.storage_key)
    try:
        owner, prefix = owner_of(stream)
        aead = vault.data_key(session, owner)
    except Exception:
        stream.close()
        raise
    session.commit()
    size = archive.size

    def chunks():
        with stream:
            yield from open_sealed(stream, aead, prefix, request.id)

    return chunks(), size
