"""The service's own tables a data map may list under a source of ``kind: vault``.

Each name maps to its model and the attributes a data map may name as fields. The collector
reads them per subject, and erasure deletes them per subject, like the shop's tables.
"""

from __future__ import annotations

import dataclasses

from privacy_service.subjects.history import CorrectionRecord
from privacy_service.subjects.identity import IdentityDocument


@dataclasses.dataclass(frozen=True)
class VaultTable:
    """A model keyed by ``subject_id`` and the fields a data map may list."""

    model: type
    fields: tuple[str, ...]


VAULT_TABLES: dict[str, VaultTable] = {
    "identity_documents": VaultTable(
        IdentityDocument,
        ("kind", "id_number", "holder_name", "created_at", "last_read_at", "created_by"),
    ),
    "correction_history": VaultTable(
        CorrectionRecord,
        (
            "corrected_category",
            "corrected_table",
            "record_id",
            "field",
            "old_value",
            "new_value",
            "approved_by",
            "approved_at",
            "request_id",
        ),
    ),
}
