"""Settings of the gateway (the shared FLAGEVAL_* variables; gateway overrides go here).

The ones the gateway reads: ``admin_email`` / ``admin_password`` (bootstrap admin),
``login_rate_limit`` / ``login_rate_window_seconds``, ``access_token_ttl_seconds``,
``proxy_timeout_seconds`` and ``service_urls`` (mesh mode: where each internal service lives).
"""

from flageval_platform.settings import Settings


class GatewaySettings(Settings):
    pass
