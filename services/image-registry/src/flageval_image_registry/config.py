"""Settings of the image-registry service (the shared FLAGEVAL_* variables; overrides go here)."""

from __future__ import annotations

import os

from flageval_platform.settings import Settings

DEFAULT_REGISTRY_PREFIX = "registry.flageval.local"


class ServiceSettings(Settings):
    #: Host (and optional path) of the platform's own registry that imported images are copied to.
    image_registry_prefix: str | None = None


def registry_prefix(settings: Settings) -> str:
    """The platform registry prefix; also honoured when standalone composes plain ``Settings``."""
    value = getattr(settings, "image_registry_prefix", None) or os.environ.get(
        "FLAGEVAL_IMAGE_REGISTRY_PREFIX"
    )
    return (value or DEFAULT_REGISTRY_PREFIX).rstrip("/")
