"""Settings of the gateway (the shared FLAGEVAL_* variables; gateway overrides go here).

The ones the gateway reads: ``admin_email`` / ``admin_password`` (bootstrap admin),
``login_rate_limit`` / ``login_rate_window_seconds``, ``access_token_ttl_seconds``,
``proxy_timeout_seconds``, ``service_urls`` (mesh mode: where each internal service lives) and
its own ``web_dir`` (``FLAGEVAL_WEB_DIR``: the built web console it serves at ``/``).
"""

from pathlib import Path

from pydantic import Field

from flageval_platform.settings import Settings


class GatewaySettings(Settings):
    web_dir: Path | None = Field(
        default=None,
        description="The built web console (Vite's output, with index.html and assets/). "
        "Unset: the repository's web/dist, found above the installed package or the working "
        "directory.",
    )
