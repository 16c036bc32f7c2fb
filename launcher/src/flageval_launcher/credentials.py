"""The bootstrap admin of a standalone installation.

When ``FLAGEVAL_ADMIN_EMAIL``/``FLAGEVAL_ADMIN_PASSWORD`` are unset, a password is generated on
first start into ``<data dir>/admin-credentials.json`` (mode 0600) and reused afterwards. The
password itself is never printed or logged; the launcher prints where it is.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from flageval_platform.settings import Settings

DEFAULT_ADMIN_EMAIL = "admin@flageval.local"


def credentials_path(settings: Settings) -> Path:
    return settings.data_dir / "admin-credentials.json"


def ensure_admin_credentials(settings: Settings) -> str:
    """Fill ``settings.admin_email``/``admin_password``; return a line saying where they come from."""
    if settings.admin_email and settings.admin_password:
        return "Admin account: FLAGEVAL_ADMIN_EMAIL / FLAGEVAL_ADMIN_PASSWORD from the environment"
    path = credentials_path(settings)
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "email": settings.admin_email or DEFAULT_ADMIN_EMAIL,
            "password": secrets.token_urlsafe(12) + "7a",
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2)
    doc = json.loads(path.read_text())
    settings.admin_email = settings.admin_email or doc["email"]
    settings.admin_password = settings.admin_password or SecretStr(doc["password"])
    return f"Admin account: {settings.admin_email}, password in {path.resolve()}"
