"""Intent providers: the local rules, and OpenAI, Anthropic and Cohere through their official SDKs.

Every remote provider answers through the same path (``_SdkProvider.classify``): count the call
against the daily budget, send only the redacted notes and the line, wait at most
``LEADGEN_LLM_TIMEOUT_SECONDS`` (one retry included), validate the JSON answer strictly, and on any
failure let the local rules answer with ``fallback_reason`` saying why. A classification never raises.

The SDKs are imported inside the constructors: the runtime image does not ship them, and a process
configured for ``local`` never needs them. A provider configured without its SDK fails at start-up
with a ``ConfigError`` naming the setting and the missing package.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from prometheus_client import Counter, Histogram

from leadgen.core.settings import ConfigError, LLMSettings, Settings
from leadgen.insights import rules
from leadgen.insights.budget import CallBudget, process_budget
from leadgen.insights.prompt import SYSTEM_PROMPT, InvalidAnswer, parse_answer, user_message
from leadgen.insights.schemas import ANSWER_SCHEMA, FallbackReason, Insight, ProviderName

if TYPE_CHECKING:
    import anthropic
    import cohere
    import httpx
    import openai

log = logging.getLogger(__name__)

# Longer than any vendor's model name; what an answer reports beyond it is not a model name.
MAX_MODEL_CHARS = 100
# One retry covers a dropped connection or a 429/5xx blip; more would only stretch the pipeline.
MAX_RETRIES = 1
# Used when LEADGEN_LLM_MODEL is empty: small, inexpensive models that follow a JSON schema.
DEFAULT_MODELS = {
    ProviderName.OPENAI: "gpt-4.1-mini",
    ProviderName.ANTHROPIC: "claude-haiku-4-5",
    ProviderName.COHERE: "command-r7b-12-2024",
}
# Passed explicitly so that the SDKs' own environment variables (OPENAI_BASE_URL, ANTHROPIC_BASE_URL,
# CO_API_URL) cannot redirect lead notes; only LEADGEN_LLM_BASE_URL changes where they go.
DEFAULT_BASE_URLS = {
    ProviderName.OPENAI: "https://api.openai.com/v1",
    ProviderName.ANTHROPIC: "https://api.anthropic.com",
    ProviderName.COHERE: "https://api.cohere.com",
}
SDK_PACKAGES = {ProviderName.OPENAI: "openai", ProviderName.ANTHROPIC: "anthropic", ProviderName.COHERE: "cohere"}

INSIGHTS = Counter(
    "leadgen_insights_total",
    "Lead notes classified, by configured provider and outcome (answered, local, or the fallback reason).",
    ["provider", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "leadgen_insights_provider_seconds",
    "Time a remote provider took to answer or fail.",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)


class IntentProvider(abc.ABC):
    """Reads a lead's notes for intent and urgency."""

    name: ClassVar[ProviderName]
    # A remote provider may take seconds: callers ask it outside any database transaction.
    remote: ClassVar[bool] = True
    model: str

    @abc.abstractmethod
    async def classify(self, notes: str, line: str, *, known_pii: Sequence[str | None] = ()) -> Insight:
        """Intent and urgency of ``notes`` for a lead of ``line``; never raises.

        Args:
            notes: the lead's free text, as captured.
            line: the insurance line (auto, home, life, health, commercial).
            known_pii: values known to be personal (the lead's name, street) to mask if the notes repeat them.
        """

    async def aclose(self) -> None:
        """Release connections; called once at shutdown."""
        return None


def local_insight(notes: str, line: str, fallback_reason: FallbackReason | None = None) -> Insight:
    result = rules.classify(notes, line)
    return Insight(
        intent=result.intent,
        urgency=result.urgency,
        provider=ProviderName.LOCAL,
        model=rules.RULES_VERSION,
        evidence=result.evidence,
        reason=result.reason(),
        fallback_reason=fallback_reason,
    )


class LocalProvider(IntentProvider):
    """The keyword rules of ``leadgen.insights.rules``; no key, no network."""

    name = ProviderName.LOCAL
    remote = False
    model = rules.RULES_VERSION

    def __init__(self, fallback_reason: FallbackReason | None = None) -> None:
        # Set when a remote provider was chosen but cannot be used (no key), so every insight says so.
        self._fallback_reason = fallback_reason

    async def classify(self, notes: str, line: str, *, known_pii: Sequence[str | None] = ()) -> Insight:
        INSIGHTS.labels(self.name.value, self._fallback_reason or "local").inc()
        return local_insight(notes, line, self._fallback_reason)


class _SdkProvider(IntentProvider):
    """The budget, timeout, validation and fallback every remote provider shares."""

    def __init__(self, cfg: LLMSettings, budget: CallBudget) -> None:
        assert cfg.api_key is not None
        self.model = cfg.model or DEFAULT_MODELS[self.name]
        self._api_key = cfg.api_key.get_secret_value()
        self._base_url = str(cfg.base_url).rstrip("/") if cfg.base_url else DEFAULT_BASE_URLS[self.name]
        self._timeout = cfg.timeout_seconds
        self._max_tokens = cfg.max_output_tokens
        self._daily_limit = cfg.daily_call_limit
        self._budget = budget
        self._timeout_errors: tuple[type[BaseException], ...] = (TimeoutError,)

    @abc.abstractmethod
    async def _ask(self, message: str) -> tuple[str | None, str | None]:
        """Send one request; the answer's text and the model that wrote it."""

    async def classify(self, notes: str, line: str, *, known_pii: Sequence[str | None] = ()) -> Insight:
        try:
            allowed = await self._budget.try_acquire(self.name.value, self._daily_limit)
        except Exception as exc:  # a shared budget's store is down: spend nothing
            return self._fallback(notes, line, FallbackReason.ERROR, exc)
        if not allowed:
            return self._fallback(notes, line, FallbackReason.BUDGET_EXHAUSTED)
        message = user_message(notes, line, known_pii)
        started = time.perf_counter()
        try:
            # The SDK's own timeout applies per attempt; this one bounds the attempt and the retry together.
            async with asyncio.timeout(self._timeout):
                text, model = await self._ask(message)
            answer = parse_answer(text)
        except InvalidAnswer as exc:
            return self._fallback(notes, line, FallbackReason.INVALID_ANSWER, exc)
        except Exception as exc:
            reason = FallbackReason.TIMEOUT if isinstance(exc, self._timeout_errors) else FallbackReason.ERROR
            return self._fallback(notes, line, reason, exc)
        finally:
            PROVIDER_LATENCY.labels(self.name.value).observe(time.perf_counter() - started)
        INSIGHTS.labels(self.name.value, "answered").inc()
        return Insight(
            intent=answer.intent,
            urgency=answer.urgency,
            provider=self.name,
            model=self._answered_by(model),
            reason=answer.reason,
        )

    def _answered_by(self, reported: str | None) -> str:
        """The model name the answer reports, or the configured one when that is no plain name.

        Stored with the lead: a NUL would fail its transaction, and a gateway's text is not trusted.
        """
        if reported and len(reported) <= MAX_MODEL_CHARS and reported.isprintable():
            return reported
        return self.model

    def _fallback(self, notes: str, line: str, reason: FallbackReason, exc: BaseException | None = None) -> Insight:
        # The exception's type and HTTP status only: SDK messages may quote the request or the answer.
        detail = f"{type(exc).__name__} {getattr(exc, 'status_code', '') or ''}".strip() if exc else ""
        log.warning("%s provider fell back to the local rules: %s %s", self.name.value, reason.value, detail)
        INSIGHTS.labels(self.name.value, reason.value).inc()
        return local_insight(notes, line, reason)


class OpenAIProvider(_SdkProvider):
    """OpenAI chat completions with a strict JSON schema (or any gateway speaking that API)."""

    name = ProviderName.OPENAI

    def __init__(self, cfg: LLMSettings, budget: CallBudget) -> None:
        super().__init__(cfg, budget)
        try:
            import openai
        except ImportError as exc:
            raise _missing_sdk(self.name) from exc
        self._client: openai.AsyncOpenAI = openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self._base_url, timeout=self._timeout, max_retries=MAX_RETRIES
        )
        self._timeout_errors = (TimeoutError, openai.APITimeoutError)

    async def _ask(self, message: str) -> tuple[str | None, str | None]:
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": message}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "lead_insight", "strict": True, "schema": ANSWER_SCHEMA},
            },
            max_completion_tokens=self._max_tokens,
            # Not kept for OpenAI's evals or distillation: the notes are a lead's words.
            store=False,
        )
        if not response.choices:
            return None, response.model
        return response.choices[0].message.content, response.model

    async def aclose(self) -> None:
        await self._client.close()


class AnthropicProvider(_SdkProvider):
    """Anthropic's Messages API with a JSON schema output format."""

    name = ProviderName.ANTHROPIC

    def __init__(self, cfg: LLMSettings, budget: CallBudget) -> None:
        super().__init__(cfg, budget)
        try:
            import anthropic
        except ImportError as exc:
            raise _missing_sdk(self.name) from exc
        self._client: anthropic.AsyncAnthropic = anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=self._timeout,
            max_retries=MAX_RETRIES,
            # No tracing spans from the SDK: they could carry request content to a collector.
            open_telemetry=False,
        )
        self._timeout_errors = (TimeoutError, anthropic.APITimeoutError)

    async def _ask(self, message: str) -> tuple[str | None, str | None]:
        response = await self._client.messages.create(
            model=self.model,
            max_tokens=self._max_tokens,
            system=SYSTEM_PROMPT,
            messages=[{"role": "user", "content": message}],
            output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
        )
        text = "".join(block.text for block in response.content if block.type == "text")
        return text, response.model


class CohereProvider(_SdkProvider):
    """Cohere's v2 Chat API with a JSON object response format and schema."""

    name = ProviderName.COHERE

    def __init__(self, cfg: LLMSettings, budget: CallBudget) -> None:
        super().__init__(cfg, budget)
        try:
            import cohere
            import httpx
        except ImportError as exc:
            raise _missing_sdk(self.name) from exc
        self._cohere = cohere
        # Our own HTTP client so that shutdown can close it.
        self._http: httpx.AsyncClient = httpx.AsyncClient(timeout=self._timeout)
        self._client: cohere.AsyncClientV2 = cohere.AsyncClientV2(
            api_key=self._api_key,
            base_url=self._base_url,
            client_name="leadgen",
            timeout=self._timeout,
            max_retries=MAX_RETRIES,
            httpx_client=self._http,
            log_warning_experimental_features=False,
        )
        self._timeout_errors = (TimeoutError, httpx.TimeoutException)

    async def _ask(self, message: str) -> tuple[str | None, str | None]:
        co = self._cohere
        response = await self._client.chat(
            model=self.model,
            messages=[co.SystemChatMessageV2(content=SYSTEM_PROMPT), co.UserChatMessageV2(content=message)],
            response_format=co.JsonObjectResponseFormatV2(json_schema=ANSWER_SCHEMA),
            max_tokens=self._max_tokens,
        )
        items = response.message.content or []
        return "".join(item.text for item in items if item.type == "text"), None

    async def aclose(self) -> None:
        await self._http.aclose()


_PROVIDERS: dict[str, type[_SdkProvider]] = {
    ProviderName.OPENAI.value: OpenAIProvider,
    ProviderName.ANTHROPIC.value: AnthropicProvider,
    ProviderName.COHERE.value: CohereProvider,
}


def _missing_sdk(name: ProviderName) -> ConfigError:
    package = SDK_PACKAGES[name]
    return ConfigError(
        [
            f"LEADGEN_LLM_PROVIDER: '{name.value}' needs the '{package}' package, which is not installed; "
            "install the llm extra (pip install 'leadgen[llm]') or set LEADGEN_LLM_PROVIDER=local"
        ]
    )


def llm_settings(settings: Settings | LLMSettings) -> LLMSettings:
    return settings if isinstance(settings, LLMSettings) else settings.llm


def create_intent_provider(settings: Settings | LLMSettings, *, budget: CallBudget | None = None) -> IntentProvider:
    """The provider ``LEADGEN_LLM_PROVIDER`` names; call once per process, at start-up.

    Without ``LEADGEN_LLM_API_KEY`` a remote choice means the local rules (each insight records
    ``no_api_key``). ``budget`` defaults to this process's in-memory counter; pass a ``RedisBudget``
    to share the daily limit across replicas.

    Raises:
        ConfigError: a remote provider is configured but its SDK is not installed.
    """
    cfg = llm_settings(settings)
    if cfg.provider == ProviderName.LOCAL.value:
        return LocalProvider()
    if cfg.api_key is None or not cfg.api_key.get_secret_value().strip():
        log.warning("LEADGEN_LLM_PROVIDER=%s without LEADGEN_LLM_API_KEY: the local rules answer", cfg.provider)
        return LocalProvider(FallbackReason.NO_API_KEY)
    provider = _PROVIDERS[cfg.provider](cfg, budget if budget is not None else process_budget())
    log.info("lead insights from %s, model %s", provider.name.value, provider.model)
    return provider
