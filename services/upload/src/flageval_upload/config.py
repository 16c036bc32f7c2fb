"""Settings of the upload service: the shared FLAGEVAL_* variables plus the upload limits."""

from __future__ import annotations

from pydantic import Field

from flageval_platform.settings import Settings


class UploadSettings(Settings):
    """``FLAGEVAL_UPLOAD_*``: the chunk size the server plans with, and the bundle limits."""

    upload_chunk_kb: int = Field(
        default=16 * 1024,
        ge=1,
        le=1024 * 1024,
        description="Size of every chunk but a file's last one, in KiB (the server's plan).",
    )
    upload_max_bundle_bytes: int = Field(
        default=100 * 1024**3, ge=1, description="Largest total size of one bundle."
    )
    upload_max_files: int = Field(default=10_000, ge=1, description="Most files in one bundle.")
    upload_token_ttl_seconds: int = Field(
        default=24 * 3600, ge=60, description="How long an upload token can be used."
    )


#: Kept for the name every service's ``config.py`` exports.
ServiceSettings = UploadSettings


def upload_settings(settings: Settings) -> UploadSettings:
    """The upload settings of a process that may have been given only the base ``Settings``.

    In standalone the launcher builds every service from one base ``Settings`` object; the
    upload variables are then read from the environment, the shared values taken as given.
    """
    if isinstance(settings, UploadSettings):
        return settings
    return UploadSettings(**settings.model_dump())
