"""Settings of the eval-api service (the shared FLAGEVAL_* variables; overrides go here)."""

from pydantic import Field

from flageval_platform.settings import Settings


class ServiceSettings(Settings):
    local_slots: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Runs the local executor runs at once (the scheduler reads the same "
        "variable); queue ETAs assume this many in parallel.",
    )
