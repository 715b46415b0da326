"""What every policy file shares: YAML read with line numbers, strict schemas, bilingual text.

An invalid file stops start-up with a message naming the file, the line and the field
(``load_yaml``). Every schema is ``Strict`` (an unknown key is a typo, never ignored); texts a
customer or the team reads come in zh-CN and English (``Text``, ``bilingual``); periods are given
in exactly one unit (``Period``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema


class PolicyError(RuntimeError):
    """A policy file is missing or invalid; the message names file, line and field."""


class Strict(Schema):
    """A schema for which unknown keys are errors (typos must not pass silently)."""

    class Meta:
        """Unknown keys raise."""

        unknown = RAISE


class Text(Strict):
    """A text in both languages: ``{zh-CN: ..., en: ...}``, neither empty."""

    zh = fields.String(required=True, data_key="zh-CN", validate=validate.Length(min=1))
    en = fields.String(required=True, validate=validate.Length(min=1))


def bilingual(text: dict) -> dict[str, str]:
    """A loaded ``Text`` as the ``{"zh-CN": ..., "en": ...}`` the service shows."""
    return {"zh-CN": text["zh"], "en": text["en"]}


class Period(Strict):
    """A period in exactly one unit; subclasses declare the units and their ranges."""

    @validates_schema
    def _exactly_one(self, data, **_kwargs):
        if len(data) != 1:
            raise ValidationError(f"Give exactly one of {', '.join(self.declared_fields)}.")


# libyaml's loader when PyYAML was built with it (the PyPI wheels are): every app start parses
# all policy files, and the pure-Python parser made that a third of a second.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_yaml(text: str) -> Any:
    """The YAML node tree of ``text`` (positions of keys, for messages that name a line)."""
    return yaml.compose(text, Loader=_LOADER)


def load_yaml(path: Path, schema: Schema) -> Any:
    """Parse ``path`` and validate it with ``schema``; errors name the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader, C or Python)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PolicyError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return schema.load(data if data is not None else {})
    except ValidationError as exc:
        node = compose_yaml(text)  # only to point at lines: parsed again on failure only
        problems = []
        for raw_path, message in _flatten(exc.messages):
            field_path = _document_path(node, raw_path)
            shown = ".".join(map(str, field_path)) or "(file)"
            problems.append(f"{path}:{line_of(node, field_path)}: {shown}: {message}")
        raise PolicyError("invalid policy: " + "; ".join(problems)) from exc


def _flatten(messages: Any, prefix: tuple = ()) -> list[tuple[tuple, str]]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            sub = prefix if key == "_schema" else (*prefix, key)
            out.extend(_flatten(value, sub))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [(prefix, " ".join(messages))]
    if isinstance(messages, list):
        return [item for m in messages for item in _flatten(m, prefix)]
    return [(prefix, str(messages))]


def _document_path(node: yaml.Node | None, field_path: tuple) -> tuple:
    """Drop the ``value``/``key`` levels marshmallow adds for Dict fields."""
    out = []
    for part in field_path:
        if (
            part in ("value", "key")
            and isinstance(node, yaml.MappingNode)
            and not any(k.value == part for k, _ in node.value)
        ):
            continue
        out.append(part)
        node = _child(node, part)
    return tuple(out)


def _child(node: yaml.Node | None, part) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
        return node.value[int(part)]
    return None


def line_of(node: yaml.Node | None, field_path: tuple) -> int:
    """1-based line of the deepest node along ``field_path`` that exists in the document."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in field_path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit():
            index = int(part)
            if index < len(node.value):
                child = node.value[index]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
