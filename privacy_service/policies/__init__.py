"""Policy as code: YAML under ``policies/``, validated with marshmallow at start-up.

An invalid file stops start-up with a message naming the file, the line and the field. One module
per policy file (``requests``, ``calendar``, ``categories``, ``datamap``, ``erasure``,
``retention``, ``recipients``) on one small base (``_base``); ``load_policies`` reads them all.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from privacy_service.calendar import WorkingCalendar
from privacy_service.config import DEMO_POLICIES, PACKAGE_DIR, Settings
from privacy_service.policies._base import PolicyError
from privacy_service.policies.calendar import load_calendar
from privacy_service.policies.categories import Category, load_categories, load_labels
from privacy_service.policies.datamap import DataMap, load_datamap
from privacy_service.policies.erasure import ErasurePolicy, load_erasure_policy
from privacy_service.policies.recipients import Recipient, load_recipients
from privacy_service.policies.requests import RequestPolicies, load_request_policies
from privacy_service.policies.retention import RetentionPolicy, load_retention_policy

__all__ = ["Policies", "PolicyError", "load_policies"]


@dataclasses.dataclass(frozen=True)
class Policies:
    """Everything loaded from ``policies/``."""

    requests: RequestPolicies
    calendar: WorkingCalendar
    categories: dict[str, Category]
    datamap: DataMap
    labels: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    erasure: ErasurePolicy | None = None
    retention: RetentionPolicy | None = None
    recipients: tuple[Recipient, ...] = ()
    # Policy files the operator left out, read from the shipped defaults instead.
    fallbacks: tuple[str, ...] = ()

    def label(self, field: str) -> dict[str, str]:
        """A field's display name in both languages (its name when none is configured)."""
        return self.labels.get(field, {"zh-CN": field, "en": field})


# The demo shop's folder; its categories, request policies, labels and calendar serve any shop.
SHIPPED_POLICIES = DEMO_POLICIES
POLICY_DEFAULTS = PACKAGE_DIR / "policy_defaults"
# Files an operator may leave out: where the fallback comes from. The shipped erasure and
# retention policies name the demo's tables, so an operator's shop gets neutral ones instead.
OPTIONAL_FILES = {
    "categories.yaml": SHIPPED_POLICIES,
    "request_policies.yaml": SHIPPED_POLICIES,
    "field_labels.yaml": SHIPPED_POLICIES,
    "calendar": SHIPPED_POLICIES,
    "erasure.yaml": POLICY_DEFAULTS,
    "retention.yaml": POLICY_DEFAULTS,
}


def policy_folders(policies_dir: str | Path) -> tuple[dict[str, Path], list[str]]:
    """Where each policy file is read from, and which files fell back to a default.

    ``datamap.yaml`` is always the operator's; any other file missing from their folder comes
    from the shipped defaults (the demo shop's ``demo_policies/``, or the neutral erasure and
    retention policies of ``policy_defaults/``).
    """
    folder = Path(policies_dir)
    where, fallbacks = {}, []
    for name, default in OPTIONAL_FILES.items():
        if (folder / name).exists():
            where[name] = folder
        else:
            where[name] = default
            fallbacks.append(name)
    return where, fallbacks


def load_policies(policies_dir: str | Path) -> Policies:
    """Load and validate every policy file; raises ``PolicyError`` on the first bad file."""
    folder = Path(policies_dir)
    if not (folder / "datamap.yaml").is_file():
        raise PolicyError(f"{folder / 'datamap.yaml'}: missing; every shop needs its data map")
    where, fallbacks = policy_folders(folder)
    categories = load_categories(where["categories.yaml"])
    settings_fields = [f.name for f in dataclasses.fields(Settings)]
    datamap = load_datamap(folder, categories, settings_fields)
    return Policies(
        requests=load_request_policies(where["request_policies.yaml"]),
        calendar=load_calendar(where["calendar"]),
        categories=categories,
        datamap=datamap,
        labels=load_labels(where["field_labels.yaml"]),
        erasure=load_erasure_policy(where["erasure.yaml"], datamap),
        retention=load_retention_policy(where["retention.yaml"], datamap),
        # The operator's own recipients only: the shipped list names the demo shop's partners.
        recipients=load_recipients(folder, categories),
        fallbacks=tuple(fallbacks),
    )
