"""Object storage: one interface (:class:`ObjectStore`), S3 and local-directory implementations."""

from __future__ import annotations

from flageval_platform.settings import Settings
from flageval_platform.storage.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    SizeMismatch,
    StorageError,
    check_key,
)

__all__ = [
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "SizeMismatch",
    "StorageError",
    "check_key",
    "create_store",
]


def create_store(settings: Settings) -> ObjectStore:
    """Unset or ``file://`` URL: a local directory; ``s3://bucket``: S3 at ``FLAGEVAL_S3_ENDPOINT``."""
    url = settings.storage_url
    if url is None or url.startswith("file://"):
        from pathlib import Path

        from flageval_platform.storage.local import LocalObjectStore

        root = Path(url[len("file://") :]) if url else settings.objects_dir
        return LocalObjectStore(
            root,
            public_url=settings.effective_public_url,
            secret_key=settings.ensure_secret_key(),
        )
    if url.startswith("s3://"):
        from flageval_platform.storage.s3 import S3ObjectStore

        return S3ObjectStore.from_settings(settings)
    raise ValueError(f"unsupported storage URL scheme in {url.split('://')[0]!r}")
