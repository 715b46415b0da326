"""Every mapped model, imported in one place so ``Base.metadata`` is complete (Alembic, tests)."""

from privacy_service.audit import AuditEntry, AuditHead
from privacy_service.db import Base
from privacy_service.jobs import JobLease
from privacy_service.requests.models import DataRequest, IdempotencyRecord, Verification
from privacy_service.subjects.models import Subject

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Base",
    "DataRequest",
    "IdempotencyRecord",
    "JobLease",
    "Subject",
    "Verification",
]
