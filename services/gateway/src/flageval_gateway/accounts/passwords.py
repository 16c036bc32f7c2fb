"""Password hashing with Argon2id.

Hashing is deliberately slow (and memory-hard), so it runs in a worker thread: the event loop
keeps serving other requests meanwhile, and no database connection is held while it runs.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Module-level so tests can swap in cheaper parameters.
hasher = PasswordHasher()

# Verified against when the email is unknown, so that a login for an unknown account takes as
# long as one with a wrong password (no account enumeration through timing).
_dummy_hash: str | None = None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; ``None`` burns the same time, False."""
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = await hash_password("not a real password 0")
        await asyncio.to_thread(_verify, _dummy_hash, password)
        return False
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with other parameters than today's: re-hash it after a good login."""
    try:
        return hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False
