"""Settings, the provider factory and the service entry point."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from leadgen.core.settings import ConfigError, LLMSettings, Settings
from leadgen.insights.providers import LocalProvider, create_intent_provider, llm_settings
from leadgen.insights.schemas import FallbackReason, Insight, Intent, ProviderName, Urgency
from leadgen.insights.service import classify_lead


class TestSettings:
    def test_defaults(self) -> None:
        cfg = LLMSettings()
        assert (cfg.provider, cfg.api_key, cfg.model, cfg.base_url) == ("local", None, None, None)
        assert (cfg.timeout_seconds, cfg.daily_call_limit, cfg.max_output_tokens) == (5.0, 1000, 200)

    def test_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in {
            "PROVIDER": "anthropic",
            "API_KEY": "sk-env",
            "MODEL": "claude-x",
            "BASE_URL": "http://gateway.internal:8080",
            "TIMEOUT_SECONDS": "2.5",
            "DAILY_CALL_LIMIT": "50",
            "MAX_OUTPUT_TOKENS": "100",
        }.items():
            monkeypatch.setenv(f"LEADGEN_LLM_{name}", value)
        cfg = llm_settings(Settings())
        assert cfg.provider == "anthropic"
        assert cfg.api_key is not None and cfg.api_key.get_secret_value() == "sk-env"
        assert str(cfg.base_url) == "http://gateway.internal:8080/"
        limits = (cfg.timeout_seconds, cfg.daily_call_limit, cfg.max_output_tokens)
        assert (cfg.model, *limits) == ("claude-x", 2.5, 50, 100)
        assert "sk-env" not in repr(cfg)

    def test_key_from_a_mounted_secret_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        (tmp_path / "LEADGEN_LLM_API_KEY").write_text("sk-from-file")
        monkeypatch.setenv("LEADGEN_SECRETS_DIR", str(tmp_path))
        cfg = llm_settings(Settings())
        assert cfg.api_key is not None and cfg.api_key.get_secret_value() == "sk-from-file"

    def test_bad_values_are_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LEADGEN_LLM_PROVIDER", "gemini")
        monkeypatch.setenv("LEADGEN_LLM_TIMEOUT_SECONDS", "0")
        with pytest.raises(ConfigError) as caught:
            llm_settings(Settings())
        named = [p.split(":")[0] for p in caught.value.problems]
        assert named == ["LEADGEN_LLM_PROVIDER", "LEADGEN_LLM_TIMEOUT_SECONDS"]


class TestCreateIntentProvider:
    def test_local_by_default(self) -> None:
        provider = create_intent_provider(Settings())
        assert isinstance(provider, LocalProvider)

    async def test_a_remote_provider_without_a_key_is_local(self) -> None:
        provider = create_intent_provider(LLMSettings(provider="openai"))
        assert isinstance(provider, LocalProvider)
        insight = await provider.classify("ready to buy", "auto")
        assert (insight.provider, insight.fallback_reason) == (ProviderName.LOCAL, FallbackReason.NO_API_KEY)

    @pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere"])
    async def test_each_remote_provider(self, provider: str) -> None:
        pytest.importorskip(provider)
        made = create_intent_provider(LLMSettings(provider=provider, api_key="sk-x"))
        try:
            assert made.name.value == provider
            assert made.model
        finally:
            await made.aclose()

    @pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere"])
    def test_missing_sdk_is_a_clear_startup_error(self, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
        real_import = builtins.__import__

        def without_sdk(name: str, *args: Any, **kwargs: Any) -> Any:
            if name.split(".")[0] == provider:
                raise ImportError(f"No module named '{name}'")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", without_sdk)
        with pytest.raises(ConfigError) as caught:
            create_intent_provider(LLMSettings(provider=provider, api_key="sk-x"))
        [problem] = caught.value.problems
        assert problem.startswith(f"LEADGEN_LLM_PROVIDER: '{provider}' needs the '{provider}' package")
        assert "leadgen[llm]" in problem


class TestClassifyLead:
    @pytest.mark.parametrize("notes", [None, "", "  \n "])
    async def test_no_notes_no_insight(self, notes: str | None) -> None:
        assert await classify_lead(LocalProvider(), notes, "auto") is None

    async def test_notes_are_classified(self) -> None:
        insight = await classify_lead(LocalProvider(), "Just bought a car at the dealership", "auto")
        assert insight == Insight(
            intent=Intent.BUY_NOW,
            urgency=Urgency.HIGH,
            provider=ProviderName.LOCAL,
            model="keyword-rules-1",
            evidence=(
                "'just bought a car' -> intent buy_now + urgency high",
                "'at the dealership' -> intent buy_now + urgency high",
            ),
            reason="buy_now from 'just bought a car', 'at the dealership'; "
            "urgency high from 'just bought a car', 'at the dealership'",
        )

    async def test_insight_serialises_for_storage(self) -> None:
        insight = await classify_lead(LocalProvider(), "no rush", "home")
        assert insight is not None
        assert insight.model_dump(mode="json")["urgency"] == "low"
