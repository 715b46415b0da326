"""The service's own tables a data map may list under a source of ``kind: vault``.

Each name maps to its model and the attributes a data map may name as fields. The collector
reads them per subject, and erasure deletes them per subject, like the shop's tables.
"""

from __future__ import annotations

import dataclasses

from privacy_service.policies.datamap_schema import VAULT_TABLE_FIELDS
from privacy_service.subjects.history import CorrectionRecord
from privacy_service.subjects.identity import IdentityDocument


@dataclasses.dataclass(frozen=True)
class VaultTable:
    """A model keyed by ``subject_id`` and the fields a data map may list."""

    model: type
    fields: tuple[str, ...]


_MODELS = {"identity_documents": IdentityDocument, "correction_history": CorrectionRecord}
VAULT_TABLES: dict[str, VaultTable] = {
    name: VaultTable(_MODELS[name], fields) for name, fields in VAULT_TABLE_FIELDS.items()
}
