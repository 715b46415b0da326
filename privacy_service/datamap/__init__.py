"""Where personal data lives: the data map (``policies/datamap.yaml``), collection, checks."""

from privacy_service.policies.datamap import DataMap, FieldSpec, SourceSpec, TableSpec, load_datamap

__all__ = ["DataMap", "FieldSpec", "SourceSpec", "TableSpec", "load_datamap"]
