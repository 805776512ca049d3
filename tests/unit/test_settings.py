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


def test_only_real_secrets_serve_other_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().listening_problems() == [], "the placeholders serve this machine"
    monkeypatch.setenv("LEADGEN_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("LEADGEN_SECURITY_JWT_SECRET", "j" * 48)
    monkeypatch.setenv("LEADGEN_SECURITY_SESSION_SECRET", "short")
    assert Settings().listening_problems() == [
        "LEADGEN_HTTP_HOST: 0.0.0.0 serves other machines, and LEADGEN_SECURITY_PII_HASH_KEY, "
        "LEADGEN_SECURITY_SESSION_SECRET are not a real secret (the published development placeholder, or "
        "under 32 characters); listen on 127.0.0.1, or set real secrets"
    ]
    for name in ("PII_HASH_KEY", "SESSION_SECRET"):
        monkeypatch.setenv(f"LEADGEN_SECURITY_{name}", "s" * 48)
    assert Settings().listening_problems() == []


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


def test_an_intake_limit_the_limiter_cannot_read_is_named_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not at the first lead: every vendor POST and quote-form submission would answer 500."""
    monkeypatch.setenv("LEADGEN_INTAKE_RATE_LIMIT", "50/sec")
    monkeypatch.setenv("LEADGEN_INTAKE_PUBLIC_RATE_LIMIT", "10/minute;100/hour")
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert caught.value.problems == [
        "LEADGEN_INTAKE_RATE_LIMIT: Value error, '50/sec' is not a limit in limits notation, "
        "such as 10/minute or 10 per minute",
        "LEADGEN_INTAKE_PUBLIC_RATE_LIMIT: Value error, one limit, such as 10/minute: "
        "only the first of '10/minute;100/hour' would count",
    ]
    monkeypatch.setenv("LEADGEN_INTAKE_RATE_LIMIT", "50 per second")
    monkeypatch.setenv("LEADGEN_INTAKE_PUBLIC_RATE_LIMIT", "10/minute")
    assert Settings().intake.rate_limit == "50 per second"


def test_sentinels_are_host_port_pairs_with_ipv6_addresses_in_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_REDIS_SENTINELS", "[fd00::1]:26379, redis-0.redis-headless:26379")
    assert Settings().redis.sentinel_hosts() == [("[fd00::1]", 26379), ("redis-0.redis-headless", 26379)]
    for sentinels, fault in [
        ("sentinel-0,sentinel-1", "'sentinel-0' is not host:port"),
        ("sentinel-0:26379,sentinel-1:port", "'sentinel-1:port' is not host:port"),
        ("fd00::1:26379", "'fd00::1:26379' is not host:port"),
        ("sentinel-0:65536", "'sentinel-0:65536' is not host:port"),
        ("[sentinel-0]:26379", "'[sentinel-0]:26379': only an IPv6 address is written in brackets"),
    ]:
        monkeypatch.setenv("LEADGEN_REDIS_SENTINELS", sentinels)
        with pytest.raises(ConfigError) as caught:
            Settings()
        [problem] = caught.value.problems
        assert problem.startswith(f"LEADGEN_REDIS_SENTINELS: Value error, {fault}"), problem


def test_a_log_level_python_does_not_know_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_LOG_LEVEL", "verbose")
    monkeypatch.setenv("LEADGEN_LOG_FORMAT", "jsonl")
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert [problem.split(":")[0] for problem in caught.value.problems] == ["LEADGEN_LOG_LEVEL", "LEADGEN_LOG_FORMAT"]
    assert "'verbose' is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)" in caught.value.problems[0]
    monkeypatch.setenv("LEADGEN_LOG_LEVEL", "debug")
    monkeypatch.setenv("LEADGEN_LOG_FORMAT", "console")
    assert Settings().common.log_level == "DEBUG"


def test_the_sender_is_an_address_whose_name_a_text_can_open_with(monkeypatch: pytest.MonkeyPatch) -> None:
    """A person's text opens with the From address's display name and keeps to one segment."""
    for sender, fault in [
        ("leads", "'leads' is not an e-mail address"),
        ("The Lone Star Insurance Agency of Texas <leads@lonestar.example>", "its display name has 39 characters"),
    ]:
        monkeypatch.setenv("LEADGEN_SMTP_SENDER", sender)
        with pytest.raises(ConfigError) as caught:
            Settings()
        [problem] = caught.value.problems
        assert problem.startswith(f"LEADGEN_SMTP_SENDER: Value error, {fault}"), problem
    monkeypatch.setenv("LEADGEN_SMTP_SENDER", "Lone Star Insurance <leads@lonestar.example>")
    assert Settings().smtp.sender == "Lone Star Insurance <leads@lonestar.example>"


def test_bad_values_and_what_the_targets_need_are_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "production")
    monkeypatch.setenv("LEADGEN_HTTP_FORWARDED_ALLOW_IPS", "10.0.0.0/8,gateway")
    monkeypatch.setenv("LEADGEN_SECURITY_PII_HASH_KEY", "k" * 48)
    monkeypatch.setenv("LEADGEN_SECURITY_SESSION_SECRET", "s" * 48)
    monkeypatch.setenv("LEADGEN_REDIS_URL", "redis://redis:6379/0")
    with pytest.raises(ConfigError) as caught:
        Settings(TARGETS["data-service"].needs)
    assert [problem.split(":")[0] for problem in caught.value.problems] == [
        "LEADGEN_HTTP_FORWARDED_ALLOW_IPS",
        "LEADGEN_DB_URL",
        "LEADGEN_SECURITY_JWT_SECRET",
    ]
    # Without the targets' needs, only the values themselves are judged.
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert [problem.split(":")[0] for problem in caught.value.problems] == ["LEADGEN_HTTP_FORWARDED_ALLOW_IPS"]


def test_the_embedded_broker_names_its_host() -> None:
    """kombu warns of a URL without a host ("No hostname was supplied") at every connection: once per
    lead posted on a laptop."""
    url, _ = broker_url(Settings())
    parts = url_to_parts(url)
    assert (parts.scheme, parts.hostname) == ("memory", "localhost")
