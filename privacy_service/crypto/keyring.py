"""Key material: versioned key-encryption keys, the blind-index key, the audit key.

Keys come from settings (environment variables or files they name), never from the database.
In development with nothing configured, a key ring is created under ``instance/`` (mode 0600)
and the service says so; production refuses to start without configured keys.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

DEV_KEYRING_FILE = "dev-keyring.json"


class KeyError_(ValueError):
    """Key material is malformed; the message never contains key bytes."""


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Versioned 256-bit key-encryption keys plus the separate index and audit keys."""

    keks: dict[int, bytes]
    active_kek: int
    index_key: bytes
    audit_key: bytes

    def __post_init__(self):
        if self.active_kek not in self.keks:
            raise KeyError_(f"active key version {self.active_kek} is not in the key ring")
        for version, key in self.keks.items():
            if len(key) != 32:
                raise KeyError_(f"key version {version} must be 32 bytes (256 bits)")
        if len(self.index_key) < 32 or len(self.audit_key) < 32:
            raise KeyError_("index and audit keys must be at least 32 bytes")

    def __repr__(self) -> str:
        return f"KeyRing(versions={sorted(self.keks)}, active={self.active_kek})"


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyError_(f"{what} is not valid base64") from exc


def parse_keks(spec: str) -> dict[int, bytes]:
    """Parse ``"1:<base64>,2:<base64>"`` into ``{1: key, 2: key}``."""
    keks = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        version, sep, material = part.partition(":")
        if not sep or not version.isdigit():
            raise KeyError_("PRIVACY_KEYS entries must look like '<version>:<base64 key>'")
        keks[int(version)] = _b64(material, f"key version {version}")
    if not keks:
        raise KeyError_("PRIVACY_KEYS holds no key")
    return keks


def new_key_b64() -> str:
    """A fresh random 256-bit key, base64-encoded."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def load_keyring(settings) -> KeyRing:
    """The key ring from settings, or (development only) from/into ``instance/``."""
    if settings.keys:
        keks = parse_keks(settings.keys)
        active = int(settings.active_key) if settings.active_key else max(keks)
        return KeyRing(
            keks=keks,
            active_kek=active,
            index_key=_b64(settings.index_key, "PRIVACY_INDEX_KEY") if settings.index_key else b"",
            audit_key=_b64(settings.audit_key, "PRIVACY_AUDIT_KEY") if settings.audit_key else b"",
        )
    if settings.is_production:
        raise KeyError_("PRIVACY_KEYS is required in production")
    return _dev_keyring(Path(settings.instance_dir))


def dev_secrets(instance_dir: Path) -> dict:
    """Development secrets, created once under ``instance/`` with owner-only permissions."""
    path = instance_dir / DEV_KEYRING_FILE
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "keys": {"1": new_key_b64()},
            "active_key": 1,
            "index_key": new_key_b64(),
            "audit_key": new_key_b64(),
            "secret_key": secrets.token_urlsafe(48),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        log.warning("created a development key ring at %s (not for production)", path)
    return json.loads(path.read_text())


def _dev_keyring(instance_dir: Path) -> KeyRing:
    data = dev_secrets(instance_dir)
    return KeyRing(
        keks={int(v): _b64(k, f"key version {v}") for v, k in data["keys"].items()},
        active_kek=int(data["active_key"]),
        index_key=_b64(data["index_key"], "index_key"),
        audit_key=_b64(data["audit_key"], "audit_key"),
    )
