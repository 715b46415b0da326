"""The vault: the only package that imports ``cryptography``.

``Vault`` seals and opens field values (AES-256-GCM envelopes bound to table, column and row id)
and computes blind indexes for exact lookups. Models reach the active vault through
``current_vault()``, which the app factory, CLI and tests install with ``install_vault()``.
"""

from privacy_service.crypto.keyring import KeyRing, load_keyring
from privacy_service.crypto.normalize import InvalidValue, normalize
from privacy_service.crypto.vault import DecryptionError, Vault, current_vault, install_vault

__all__ = [
    "DecryptionError",
    "InvalidValue",
    "KeyRing",
    "Vault",
    "current_vault",
    "install_vault",
    "load_keyring",
    "normalize",
]
