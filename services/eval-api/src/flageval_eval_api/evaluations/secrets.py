"""API keys of API-deployed models are encrypted with :mod:`flageval_platform.apikeys` (the
scheduler decrypts them for the runner's spec)."""

from flageval_platform.apikeys import ApiKeyCipher, UnreadableApiKey

__all__ = ["ApiKeyCipher", "UnreadableApiKey"]
