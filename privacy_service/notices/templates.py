"""The notices' texts: Jinja templates a privacy team can edit, checked at start-up.

Each notice is a plain-text file ``<kind>.<language>.txt`` whose first line is
``Subject: ...``; the rest is the body. The package ships all of them; a file of the same name in
``$PRIVACY_POLICIES_DIR/notices/`` replaces it. Templates run in Jinja's sandbox with undefined
names as errors, and every one is rendered with sample values when the service starts, so a typo
stops the start-up with the file's name instead of failing a customer's notice later.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from privacy_service import compiled_templates
from privacy_service.notices import KINDS, Notice

log = logging.getLogger(__name__)
LANGUAGES = ("zh-CN", "en")
PACKAGE_TEMPLATES = Path(__file__).parent / "templates"

_CHANGES = [{"field": "recipient", "value": "张*"}]
_BLOCKERS = [{"reason": "有运输中的订单", "remedy": "请等待签收", "count": 1}]
# Values every template must render with (what the services pass).
SAMPLES: dict[str, dict] = {
    "received": {"code": "123456", "minutes": 10, "type_label": "x", "due_date": "2026-01-01"},
    "code": {"code": "123456", "minutes": 10},
    "verified": {"type_label": "x", "due_date": "2026-01-01"},
    "refused": {"type_label": "x", "reasons": ["reason"]},
    "correction_done": {"changes": _CHANGES, "remained": ["客服系统"]},
    "deletion_done": {"receipt_url": "https://example.com/r/x"},
    "closure_refused": {"blockers": _BLOCKERS},
    "cooling_off_started": {"ends": "2026-01-01 12:00", "cancel_url": "https://example.com/r/x"},
    "closure_done": {},
    "deadline_extended": {
        "type_label": "x",
        "old_due": "2026-01-01",
        "new_due": "2026-02-01",
        "reason": "reason",
    },
    "export_ready": {"days": 7, "downloads": 5, "url": "https://example.com/r/x"},
    "export_expiring": {"expires": "2026-01-01 12:00", "downloads_left": 5, "url": "u"},
    "on_behalf_requested": {"relationship": "x", "type_label": "x"},
}


class NoticeTemplateError(Exception):
    """A notice template is missing or broken (raised at start-up)."""


class NoticeTexts:
    """Renders notices from the templates."""

    def __init__(self, policies_dir: str | Path | None = None, labels: dict | None = None):
        loaders = []
        override = Path(policies_dir) / "notices" if policies_dir else None
        if override is not None and override.is_dir():
            loaders.append(FileSystemLoader(str(override)))
        loaders.append(FileSystemLoader(str(PACKAGE_TEMPLATES)))
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,  # plain text, not HTML
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=compiled_templates.NOTICES,  # compiled once per process
        )
        known = labels or {}
        # label("recipient", "en") -> "Recipient": field names as the customer reads them.
        self.env.globals["label"] = lambda field, lang: known.get(field, {}).get(lang, field)

    def render(self, kind: str, language: str, params: dict) -> tuple[str, str]:
        """The subject and body of notice ``kind`` in ``language``."""
        text = self.env.get_template(f"{kind}.{language}.txt").render(**params)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            raise NoticeTemplateError(f"{kind}.{language}.txt: the first line is 'Subject: ...'")
        return first.removeprefix("Subject:").strip(), body.lstrip("\n")

    def validate(self) -> None:
        """Render every notice in every language with sample values; raise on the first error."""
        for kind in KINDS:
            for language in LANGUAGES:
                name = f"{kind}.{language}.txt"
                try:
                    subject, body = self.render(
                        kind, language, {"request_id": "R", **SAMPLES[kind]}
                    )
                except TemplateError as exc:
                    raise NoticeTemplateError(f"notice template {name}: {exc}") from exc
                if not subject or not body.strip():
                    raise NoticeTemplateError(f"notice template {name}: empty subject or body")


def renderer(texts: NoticeTexts, public_url: str):
    """A function that renders a notice to ``(subject, text)``, or None (logged; never raises).

    Parameters ending in ``url`` are paths of the customer page; they become full links here.
    """
    base = public_url.rstrip("/")

    def render(notice: Notice) -> tuple[str, str] | None:
        params = {
            k: base + v if k.endswith("url") and isinstance(v, str) and v.startswith("/") else v
            for k, v in notice.params.items()
        }
        try:
            return texts.render(notice.kind, notice.language, params)
        except Exception as exc:
            log.warning(
                "notice not rendered",
                extra={"request_id": notice.request_id, "error_type": type(exc).__name__},
            )
            return None

    return render
