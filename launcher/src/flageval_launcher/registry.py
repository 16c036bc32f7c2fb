"""Which services make up the platform, and the module that defines each."""

from __future__ import annotations

import importlib

from flageval_platform.service import ServiceDefinition

#: Service name → module exposing ``definition`` and ``create_app``. The gateway comes first:
#: it is the public entry point; the others sit behind it.
SERVICE_MODULES: dict[str, str] = {
    "gateway": "flageval_gateway.main",
    "eval-api": "flageval_eval_api.main",
    "scheduler": "flageval_scheduler.main",
    "upload": "flageval_upload.main",
    "image-registry": "flageval_image_registry.main",
    "leaderboard": "flageval_leaderboard.main",
    "notifier": "flageval_notifier.main",
}

INTERNAL_SERVICES = [name for name in SERVICE_MODULES if name != "gateway"]


def definition(name: str) -> ServiceDefinition:
    module = importlib.import_module(SERVICE_MODULES[name])
    return module.definition
