"""``policies/categories.yaml`` and ``field_labels.yaml``: what data is, and its names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from marshmallow import fields, validate

from privacy_service.policies._base import Strict, Text, bilingual, load_yaml


class _Category(Strict):
    name = fields.Nested(Text, required=True)
    description = fields.Nested(Text, required=True)
    sensitive = fields.Boolean(required=True)


class _Categories(Strict):
    categories = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$")),
        values=fields.Nested(_Category),
        required=True,
        validate=validate.Length(min=1),
    )


@dataclasses.dataclass(frozen=True)
class Category:
    """A data category with its zh-CN and English name and description."""

    code: str
    name: dict[str, str]
    description: dict[str, str]
    sensitive: bool


def load_categories(policies_dir: Path) -> dict[str, Category]:
    """Load and validate ``categories.yaml``, keeping the file's order."""
    data = load_yaml(policies_dir / "categories.yaml", _Categories())
    return {
        code: Category(
            code=code,
            name=bilingual(c["name"]),
            description=bilingual(c["description"]),
            sensitive=c["sensitive"],
        )
        for code, c in data["categories"].items()
    }


class _Labels(Strict):
    labels = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$")),
        values=fields.Nested(Text),
        required=True,
    )


def load_labels(policies_dir: Path) -> dict[str, dict[str, str]]:
    """Field labels (zh-CN, English) from ``field_labels.yaml``."""
    data = load_yaml(policies_dir / "field_labels.yaml", _Labels())
    return {name: bilingual(text) for name, text in data["labels"].items()}
