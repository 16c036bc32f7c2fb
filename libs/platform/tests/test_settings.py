"""Every SPEC §9 variable is read from the environment with the documented default."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from flageval_platform.settings import Settings, schema_name

SPEC_VARIABLES = {
    "FLAGEVAL_PORT": ("port", "9001", 9001),
    "FLAGEVAL_DATA_DIR": ("data_dir", "/tmp/fe", Path("/tmp/fe")),
    "FLAGEVAL_DATABASE_URL": (
        "database_url",
        "postgresql+asyncpg://u@h/db",
        "postgresql+asyncpg://u@h/db",
    ),
    "FLAGEVAL_BROKER_URL": ("broker_url", "amqp://g:g@h/", "amqp://g:g@h/"),
    "FLAGEVAL_STORAGE_URL": ("storage_url", "s3://bucket", "s3://bucket"),
    "FLAGEVAL_EXECUTOR": ("executor", "kubernetes", "kubernetes"),
    "FLAGEVAL_PUBLIC_URL": ("public_url", "https://eval.example.org", "https://eval.example.org"),
    "FLAGEVAL_ADMIN_EMAIL": ("admin_email", "root@example.org", "root@example.org"),
    "FLAGEVAL_TIMEZONE": ("timezone", "UTC", "UTC"),
}


def test_defaults_match_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        *SPEC_VARIABLES,
        "FLAGEVAL_SMTP_URL",
        "FLAGEVAL_SECRET_KEY",
        "FLAGEVAL_ADMIN_PASSWORD",
    ]:
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert (s.port, s.data_dir, s.broker_url, s.executor, s.timezone) == (
        8000,
        Path(".data"),
        "memory://",
        "local",
        "Asia/Shanghai",
    )
    assert s.database_url is None and s.storage_url is None and s.secret_key is None
    assert s.effective_public_url == "http://127.0.0.1:8000"


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for env, (_, raw, _) in SPEC_VARIABLES.items():
        monkeypatch.setenv(env, raw)
    monkeypatch.setenv("FLAGEVAL_SMTP_URL", "smtp://u:p@127.0.0.1:2525")
    monkeypatch.setenv("FLAGEVAL_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("FLAGEVAL_ADMIN_PASSWORD", "pw12345678")
    s = Settings()
    for _, (attr, _, expected) in SPEC_VARIABLES.items():
        assert getattr(s, attr) == expected
    # Secrets are held as SecretStr so they never show up in a repr or a log line.
    assert "pw12345678" not in repr(s) and "kkkk" not in repr(s) and "u:p@" not in repr(s)
    assert s.admin_password.get_secret_value() == "pw12345678"


@pytest.mark.parametrize(
    ("env", "value"),
    [("FLAGEVAL_PORT", "0"), ("FLAGEVAL_PORT", "abc"), ("FLAGEVAL_EXECUTOR", "docker")],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError):
        Settings()


def test_each_service_gets_its_own_database(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.database_url_for("gateway").endswith(f"{tmp_path}/gateway.db")
    assert s.database_url_for("gateway") != s.database_url_for("eval-api")
    s = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/fe.db")
    assert s.database_url_for("eval-api") == f"sqlite+aiosqlite:///{tmp_path}/fe-eval-api.db"
    s = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1/flageval")
    assert s.database_url_for("eval-api") == "postgresql+asyncpg://postgres@127.0.0.1/flageval"
    assert schema_name("eval-api") == "eval_api"


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).ensure_secret_key()
    second = Settings(data_dir=tmp_path).ensure_secret_key()
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_service_urls_parse_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAGEVAL_SERVICE_URLS", '{"eval-api": "http://127.0.0.1:8101"}')
    assert Settings().service_urls == {"eval-api": "http://127.0.0.1:8101"}
