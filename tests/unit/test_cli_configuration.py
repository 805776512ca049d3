"""What `leadgen check-config` and `leadgen serve` say of a bad configuration: every problem in one
round (bad values and what the targets cannot run without), each value shown as written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from leadgen.cli.main import app
from leadgen.core.settings import Settings
from leadgen.stores.redis import create_redis

BAD_SENTINEL = "[sentinel-0]:26379"


@pytest.fixture
def staging_with_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed value, and no database or Redis named, outside development."""
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "staging")
    monkeypatch.setenv("LEADGEN_INTAKE_RATE_LIMIT", "50/sec")
    monkeypatch.setenv("LEADGEN_REDIS_SENTINELS", BAD_SENTINEL)


@pytest.mark.usefixtures("staging_with_problems")
def test_check_config_names_bad_values_and_missing_requirements_at_once() -> None:
    result = CliRunner().invoke(app, ["check-config", "--target", "api", "--json"])
    assert result.exit_code == 2, result.output
    answer = json.loads(result.stdout)
    assert (answer["target"], answer["ok"]) == ("api", False)
    named = {problem.split(":")[0] for problem in answer["problems"]}
    assert {"LEADGEN_INTAKE_RATE_LIMIT", "LEADGEN_REDIS_SENTINELS", "LEADGEN_DB_URL"} <= named


@pytest.mark.usefixtures("staging_with_problems")
def test_a_value_in_brackets_is_shown_as_written() -> None:
    for command in (["check-config", "--target", "api"], ["serve", "--target", "api"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert f"'{BAD_SENTINEL}': only an IPv6" in result.output and "LEADGEN_DB_URL" in result.output


def test_an_ipv6_sentinel_reaches_redis_py_without_its_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_REDIS_SENTINELS", "[2001:db8::7]:26379,sentinel-1:26379")
    master = create_redis(Settings())
    assert master is not None
    pool = master.connection_pool
    sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
    assert [s.connection_pool.connection_kwargs["host"] for s in sentinels] == ["2001:db8::7", "sentinel-1"]
