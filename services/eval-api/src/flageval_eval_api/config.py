"""Settings of the eval-api service (the shared FLAGEVAL_* variables; overrides go here)."""

from flageval_platform.settings import Settings


class ServiceSettings(Settings):
    pass
