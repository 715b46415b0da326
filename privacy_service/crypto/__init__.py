"""The vault: the only package that imports ``cryptography``.

``Vault`` seals and opens field values (AES-256-GCM envelopes bound to table, column and row id)
and computes blind indexes for exact lookups. Each app has its own vault, carried by the sessions
of its ``Database``: code holding a session reaches it with ``vault_of(session)``.
"""

from privacy_service.crypto.keyring import KeyRing, load_keyring
from privacy_service.crypto.normalize import InvalidValue, normalize
from privacy_service.crypto.vault import DecryptionError, Vault, vault_of

__all__ = [
    "DecryptionError",
    "InvalidValue",
    "KeyRing",
    "Vault",
    "load_keyring",
    "normalize",
    "vault_of",
]
