"""Settings of the gateway (the shared FLAGEVAL_* variables; gateway overrides go here).

The ones the gateway reads: ``admin_email`` / ``admin_password`` (bootstrap admin),
``access_token_ttl_seconds``, ``proxy_timeout_seconds``, ``service_urls`` (mesh mode: where each
internal service lives) and its own: ``web_dir`` (``FLAGEVAL_WEB_DIR``: the built web console it
serves at ``/``) and the login throttling limits (``FLAGEVAL_LOGIN_FAILURES_PER_ADDRESS``,
``FLAGEVAL_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS``, ``FLAGEVAL_LOGIN_FAILURE_WINDOW_SECONDS``).
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
    login_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed logins one client address may make in the window, over all accounts; "
        "then its logins get 429 until the window ends.",
    )
    login_failures_per_account_address: int = Field(
        default=5,
        ge=1,
        description="Failed logins for one account from one client address in the window. "
        "Other addresses keep their own budget, so the owner is never locked out.",
    )
    login_failure_window_seconds: int = Field(
        default=900,
        ge=1,
        description="The window: it starts at a key's first counted failure.",
    )
