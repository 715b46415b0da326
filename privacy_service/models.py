"""Every mapped model, imported in one place so ``Base.metadata`` is complete (Alembic, tests)."""

from exports.storage_db import ExportChunk
from privacy_service.audit import AuditCheck, AuditEntry, AuditHead
from privacy_service.batches import WorkBatch
from privacy_service.crypto.keystore import DataKey, KeyVersion
from privacy_service.datamap.steps import SourceStep
from privacy_service.db import Base
from privacy_service.holds import LegalHold
from privacy_service.jobs import JobLease
from privacy_service.keys.rotation import KeyRotation
from privacy_service.notices.outbox import OutboxMessage
from privacy_service.requests.behalf import Evidence, Requester
from privacy_service.requests.models import (
    DataRequest,
    ExportArchive,
    IdempotencyRecord,
    Verification,
)
from privacy_service.subjects.history import CorrectionRecord
from privacy_service.subjects.identity import IdentityDocument
from privacy_service.subjects.models import Subject, SubjectAccount
from privacy_service.tasks.models import TaskFailure
from privacy_service.team.accounts import StaffUser
from privacy_service.team.models import (
    ReplyTemplate,
    ReportClosed,
    ReportCloseDays,
    ReportReceived,
    ReportState,
    RequestNote,
    SavedView,
)
from privacy_service.team.sessions import StaffSession
from retention.purge_records import PurgeRun

__all__ = [
    "AuditCheck",
    "AuditEntry",
    "AuditHead",
    "Base",
    "CorrectionRecord",
    "DataKey",
    "DataRequest",
    "Evidence",
    "ExportArchive",
    "ExportChunk",
    "IdempotencyRecord",
    "IdentityDocument",
    "JobLease",
    "KeyRotation",
    "KeyVersion",
    "LegalHold",
    "OutboxMessage",
    "PurgeRun",
    "ReplyTemplate",
    "ReportCloseDays",
    "ReportClosed",
    "ReportReceived",
    "ReportState",
    "RequestNote",
    "Requester",
    "SavedView",
    "SourceStep",
    "StaffSession",
    "StaffUser",
    "Subject",
    "SubjectAccount",
    "TaskFailure",
    "Verification",
    "WorkBatch",
]
