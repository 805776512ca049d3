"""Settings: one error naming every problem; secrets from files; placeholders refused outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from kombu.utils.url import url_to_parts

from leadgen.core.settings import ConfigError, Settings
from leadgen.stores.broker import broker_url
from leadgen.targets.registry import TARGETS


def test_every_invalid_setting_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_DB_POOL_SIZE", "lots")
    monkeypatch.setenv("LEADGEN_QDRANT_URL", "not a url")
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "prod")
    with pytest.raises(ConfigError) as caught:
        Settings()
    names = [p.split(":")[0] for p in caught.value.problems]
    assert names == ["LEADGEN_ENVIRONMENT", "LEADGEN_DB_POOL_SIZE", "LEADGEN_QDRANT_URL"]


def test_production_refuses_placeholders_and_missing_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "production")
    problems = Settings().requirement_problems(TARGETS["api"].needs)
    assert problems == [
        "LEADGEN_DB_URL: required outside development (PostgreSQL URL)",
        "LEADGEN_REDIS_URL or LEADGEN_REDIS_SENTINELS: required outside development",
        "LEADGEN_SERVICES_DASHBOARD_URL: the dashboard's public URL, not this machine's",
        "LEADGEN_SECURITY_JWT_SECRET: a development placeholder; set a real secret",
        "LEADGEN_SECURITY_PII_HASH_KEY: a development placeholder; set a real secret",
        "LEADGEN_SECURITY_SESSION_SECRET: a development placeholder; set a real secret",
    ]


def test_development_accepts_embedded_defaults() -> None:
    settings = Settings()
    assert settings.requirement_problems(TARGETS["worker"].needs) == []
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis.embedded


def test_secrets_are_read_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "LEADGEN_DB_URL").write_text("postgres://app:pw@db:5432/leads")
    (secrets / "LEADGEN_SECURITY_JWT_SECRET").write_text("x" * 40)
    monkeypatch.setenv("LEADGEN_SECRETS_DIR", str(secrets))
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://app:pw@db:5432/leads"
    assert settings.security.jwt_secret.get_secret_value() == "x" * 40
    assert "pw" not in repr(settings.db)


def test_short_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "staging")
    monkeypatch.setenv("LEADGEN_SECURITY_JWT_SECRET", "short")
    problems = Settings().requirement_problems(frozenset())
    assert "LEADGEN_SECURITY_JWT_SECRET: must be at least 32 characters" in problems


def test_frontend_needs_no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "production")
    for name in ("JWT_SECRET", "PII_HASH_KEY", "SESSION_SECRET"):
        monkeypatch.setenv(f"LEADGEN_SECURITY_{name}", "s" * 48)
    assert Settings().requirement_problems(TARGETS["frontend"].needs) == []


def test_believed_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_HTTP_FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.168.1.7,gateway")
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert caught.value.problems == [
        "LEADGEN_HTTP_FORWARDED_ALLOW_IPS: Value error, 'gateway' is neither an IP address nor a network (CIDR)"
    ]


def test_outside_development_every_forwarded_address_is_not_believed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "staging")
    monkeypatch.setenv("LEADGEN_HTTP_FORWARDED_ALLOW_IPS", "*")
    problems = Settings().requirement_problems(TARGETS["frontend"].needs)
    assert any(p.startswith("LEADGEN_HTTP_FORWARDED_ALLOW_IPS: * believes client-written") for p in problems)


def test_a_sentinel_password_reaches_the_broker_whole_whatever_characters_it_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "pa/ss#w:rd@x%20"
    monkeypatch.setenv("LEADGEN_REDIS_SENTINELS", "sentinel-0:26379,sentinel-1:26379")
    monkeypatch.setenv("LEADGEN_REDIS_PASSWORD", password)
    url, options = broker_url(Settings())
    parts = [url_to_parts(each) for each in url.split(";")]
    assert [(p.hostname, p.port, p.password) for p in parts] == [
        ("sentinel-0", 26379, password),
        ("sentinel-1", 26379, password),
    ]
    assert options["sentinel_kwargs"] == {"password": password}


def test_the_retention_purge_is_off_unless_set_and_never_reaches_a_consent_record_under_five_years(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().privacy.retention_days == 0
    for days in ("365", "1827", "-1"):
        monkeypatch.setenv("LEADGEN_PRIVACY_RETENTION_DAYS", days)
        with pytest.raises(ConfigError) as caught:
            Settings()
        [problem] = caught.value.problems
        assert problem.startswith("LEADGEN_PRIVACY_RETENTION_DAYS: "), problem
    monkeypatch.setenv("LEADGEN_PRIVACY_RETENTION_DAYS", "365")
    with pytest.raises(ConfigError, match="0 \\(off\\) or at least 1828 days"):
        Settings()
    monkeypatch.setenv("LEADGEN_PRIVACY_RETENTION_DAYS", "1828")
    assert Settings().privacy.retention_days == 1828
