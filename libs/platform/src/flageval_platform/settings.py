"""Platform settings: every ``FLAGEVAL_*`` variable of SPEC §9, read once per process."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration shared by all services; per-service settings subclass it."""

    model_config = SettingsConfigDict(env_prefix="FLAGEVAL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL. Unset: one SQLite file per service under data_dir. "
        "postgresql+asyncpg://…: one database, one schema per service.",
    )
    broker_url: str = "memory://"
    storage_url: str | None = Field(
        default=None,
        description="Unset: local directory data_dir/objects. file:///path or s3://bucket.",
    )
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    executor: Literal["local", "kubernetes"] = "local"
    smtp_url: SecretStr | None = None
    public_url: str | None = None
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    timezone: str = "Asia/Shanghai"
    secret_key: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    service_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Mesh mode: base URL of each internal service, e.g. "
        '{"eval-api": "http://127.0.0.1:8101"}. A service not listed is served in-process.',
    )
    proxy_timeout_seconds: float = Field(default=30.0, gt=0)
    access_token_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a scraper sends to read /metrics and /readyz's details. "
        "Unset: /metrics answers 404 and /readyz only its status.",
    )
    request_header_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A connection must complete a request's headers within this time "
        "(from connecting, or from the request's first byte); else it is closed.",
    )
    request_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="The longest wait for the next chunk of a request body; then 408 and the "
        "connection is closed.",
    )

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        # An empty variable (a chart value left blank) must not become a token nobody has.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("service_urls", mode="before")
    @classmethod
    def _parse_service_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def database_url_for(self, service: str) -> str:
        """The database URL one service uses (its own SQLite file, or the shared PostgreSQL)."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
        if self.database_url.startswith("sqlite"):
            # A configured SQLite path becomes one file per service beside it: services never
            # share tables, and SQLite has no schemas to separate them.
            prefix, _, path = self.database_url.partition(":///")
            p = Path(path)
            suffix = p.suffix or ".db"
            return f"{prefix}:///{p.with_name(f'{p.stem}-{service}{suffix}')}"
        return self.database_url

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    def ensure_secret_key(self) -> str:
        """Return the signing key; in standalone, generate one into the data dir on first start."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process won the race; use its key
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
        key = path.read_text().strip()
        self.secret_key = SecretStr(key)
        return key


def schema_name(service: str) -> str:
    """PostgreSQL schema that holds one service's tables."""
    return service.replace("-", "_")


S = TypeVar("S", bound=Settings)


def specialise(settings: Settings, cls: type[S]) -> S:
    """``settings`` as a service's own settings class: the shared values as given (a launcher
    may have set them in code), the service's extra ones from the environment."""
    if isinstance(settings, cls):
        return settings
    return cls(**{name: getattr(settings, name) for name in Settings.model_fields})
