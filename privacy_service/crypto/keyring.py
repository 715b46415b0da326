"""Key material: versioned key-encryption keys (KEKs), the blind-index key, the audit key.

Keys come from settings (environment variables or files they name), never from the database.
In development with nothing configured, a key ring is created under ``instance/`` (mode 0600)
and the service says so; production refuses to start without configured keys.

``add_version`` appends a new KEK to the file the keys came from (``PRIVACY_KEYS_FILE`` or the
development key ring); keys given inline in ``PRIVACY_KEYS`` must be added by the operator.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

DEV_KEYRING_FILE = "dev-keyring.json"


class KeyMaterialError(ValueError):
    """Key material is missing or malformed; the message never contains key bytes."""


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Versioned 256-bit KEKs plus the separate index and audit keys.

    ``default_active`` is the version used until the database records a rotation.
    """

    keks: dict[int, bytes]
    default_active: int
    index_key: bytes
    audit_key: bytes

    def __post_init__(self):
        if self.default_active not in self.keks:
            raise KeyMaterialError(
                f"active key version {self.default_active} is not in the key ring"
            )
        for version, key in self.keks.items():
            if len(key) != 32:
                raise KeyMaterialError(f"key version {version} must be 32 bytes (256 bits)")
        if len(self.index_key) < 32 or len(self.audit_key) < 32:
            raise KeyMaterialError("index and audit keys must be at least 32 bytes")

    def __repr__(self) -> str:
        return f"KeyRing(versions={sorted(self.keks)}, default_active={self.default_active})"

    def fingerprint(self, version: int) -> str:
        """A public fingerprint of a KEK version (detects a wrong key for this database)."""
        return hmac.new(self.keks[version], b"privacy-kek-fingerprint", hashlib.sha256).hexdigest()[
            :16
        ]


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyMaterialError(f"{what} is not valid base64") from exc


def parse_keks(spec: str) -> dict[int, bytes]:
    """Parse ``"1:<base64>,2:<base64>"`` into ``{1: key, 2: key}``."""
    keks = {}
    for part in filter(None, (p.strip() for p in spec.replace("\n", ",").split(","))):
        version, sep, material = part.partition(":")
        if not sep or not version.strip().isdigit():
            raise KeyMaterialError("PRIVACY_KEYS entries must look like '<version>:<base64 key>'")
        keks[int(version)] = _b64(material, f"key version {version.strip()}")
    if not keks:
        raise KeyMaterialError("PRIVACY_KEYS holds no key")
    return keks


def new_key_b64() -> str:
    """A fresh random 256-bit key, base64-encoded."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def load_keyring(settings) -> KeyRing:
    """The key ring from settings, or (development only) from/into ``instance/``."""
    if settings.keys or settings.keys_file:
        # Read the file again when there is one: a rotation may have added a version to it.
        spec = Path(settings.keys_file).read_text() if settings.keys_file else settings.keys
        keks = parse_keks(spec)
        return KeyRing(
            keks=keks,
            default_active=int(settings.active_key) if settings.active_key else max(keks),
            index_key=_b64(settings.index_key, "PRIVACY_INDEX_KEY") if settings.index_key else b"",
            audit_key=_b64(settings.audit_key, "PRIVACY_AUDIT_KEY") if settings.audit_key else b"",
        )
    if settings.is_production:
        raise KeyMaterialError("PRIVACY_KEYS is required in production")
    data = dev_secrets(Path(settings.instance_dir))
    return KeyRing(
        keks={int(v): _b64(k, f"key version {v}") for v, k in data["keys"].items()},
        default_active=int(data["active_key"]),
        index_key=_b64(data["index_key"], "index_key"),
        audit_key=_b64(data["audit_key"], "audit_key"),
    )


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
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return json.loads(path.read_text())
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        log.warning(
            "created a development key ring (not for production)", extra={"path": str(path)}
        )
    return json.loads(path.read_text())


def _write_private(path: Path, text: str) -> None:
    # Write then rename, so a crash never leaves a half-written key file.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def add_version(settings, ring: KeyRing) -> int:
    """Generate a new KEK, store it where the keys live, and return its version.

    Inline ``PRIVACY_KEYS`` cannot be changed from here: the operator adds the key to every
    process's environment and names the version (``privacy keys rotate --version N``).
    """
    version = max(ring.keks) + 1
    if settings.keys_file:
        path = Path(settings.keys_file)
        existing = path.read_text(encoding="utf-8").strip()
        _write_private(path, f"{existing},{version}:{new_key_b64()}\n")
        return version
    if settings.keys:
        raise KeyMaterialError(
            "keys come from PRIVACY_KEYS: add '<version>:<base64 key>' to it in every process, "
            "then run 'privacy keys rotate --version <version>'"
        )
    if settings.is_production:
        raise KeyMaterialError("PRIVACY_KEYS or PRIVACY_KEYS_FILE is required in production")
    path = Path(settings.instance_dir) / DEV_KEYRING_FILE
    data = json.loads(path.read_text())
    data["keys"][str(version)] = new_key_b64()
    _write_private(path, json.dumps(data, indent=2))
    return version
