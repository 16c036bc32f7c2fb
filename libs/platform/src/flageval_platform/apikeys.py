"""API keys of API-deployed models, encrypted at rest.

AES-256-GCM with a key derived (HKDF-SHA256, its own purpose label) from the platform secret, so
the key that signs tokens never encrypts data directly. The evaluation id is the associated data:
a ciphertext copied onto another row does not decrypt there.
"""

from __future__ import annotations

import base64
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The label names eval-api, which wrote the first keys: changing it would orphan them.
_PURPOSE = b"flageval eval-api: evaluation api keys v1"
_PREFIX = "v1:"


class UnreadableApiKey(Exception):
    """The stored ciphertext does not decrypt (another secret key, or tampered)."""


class ApiKeyCipher:
    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            secret_key.encode()
        )
        self._aead = AESGCM(key)

    def encrypt(self, api_key: str, *, evaluation_id: uuid.UUID) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, api_key.encode(), evaluation_id.bytes)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str, *, evaluation_id: uuid.UUID) -> str:
        if not stored.startswith(_PREFIX):
            raise UnreadableApiKey("unknown API key format")
        try:
            raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :])
            plain = self._aead.decrypt(raw[:12], raw[12:], evaluation_id.bytes)
        except (ValueError, InvalidTag) as exc:
            raise UnreadableApiKey("the API key does not decrypt with this secret key") from exc
        return plain.decode()
