"""Settings of the optional LLM providers (``LEADGEN_LLM_*``).

A group like those in ``leadgen.core.settings``; add it to ``Settings.GROUPS`` as ``"llm": LLMSettings``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr

from leadgen.core.settings import _Group

ProviderSetting = Literal["local", "openai", "anthropic", "cohere"]


class LLMSettings(_Group, prefix="LLM_"):
    provider: ProviderSetting = Field(
        "local",
        description="Who reads lead notes for intent and urgency: local (keyword rules, no key), openai, "
        "anthropic or cohere. A remote provider without LEADGEN_LLM_API_KEY means local.",
    )
    api_key: SecretStr | None = Field(None, description="API key of the chosen provider (may be a mounted file).")
    model: str | None = Field(None, description="Model name; empty means the provider's default (see docs/LLM.md).")
    base_url: AnyHttpUrl | None = Field(
        None,
        description="Base URL handed to the provider's SDK (a self-hosted gateway or a proxy); empty means the "
        "SDK's own. OpenAI-style URLs include /v1; Anthropic and Cohere URLs are the host root.",
    )
    timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Longest a classification may take, the one retry included; then the local classifier answers.",
    )
    daily_call_limit: int = Field(
        1000,
        ge=0,
        description="Provider calls allowed per UTC day (per process unless a shared budget is wired); "
        "past it the local classifier answers. 0 never calls the provider.",
    )
    max_output_tokens: int = Field(
        200, ge=16, le=4096, description="Upper bound on the tokens a provider may generate for one answer."
    )
