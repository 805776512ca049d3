"""Intent providers: the local rules, and OpenAI, Anthropic and Cohere through their official SDKs.

Every remote provider answers through the same path (``_SdkProvider.classify``): count the call
against the daily budget, send only the redacted notes and the line, wait at most
``LEADGEN_LLM_TIMEOUT_SECONDS`` (one retry included), validate the JSON answer strictly, and on any
failure let the local rules answer with ``fallback_reason`` saying why. A classification never raises.

Retries are ours, not the SDKs': one, only after what a retry can cure (a 408, 409, 429 or 5xx, a
dropped connection), after the wait the provider asks for (Retry-After, retry-after-ms) or a short
backoff, and only when that wait ends before the timeout. A provider asking for a longer wait is not
asked again until it ends: the leads meanwhile go to the local rules at once (``rate_limited`` for a
429), without spending the budget. A 400, 401, 403, 404 or 422 is never retried.

The SDKs are imported inside the constructors: the runtime image does not ship them, and a process
configured for ``local`` never needs them. A provider configured without its SDK fails at start-up
with a ``ConfigError`` naming the setting and the missing package.
"""

from __future__ import annotations

import abc
import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from prometheus_client import Counter, Histogram

from leadgen.core.settings import ConfigError, LLMSettings, Settings
from leadgen.insights import rules
from leadgen.insights.budget import CallBudget, process_budget
from leadgen.insights.prompt import SYSTEM_PROMPT, InvalidAnswer, addresses_the_model, parse_answer, user_message
from leadgen.insights.schemas import ANSWER_SCHEMA, FallbackReason, Insight, ProviderName

if TYPE_CHECKING:
    import anthropic
    import cohere
    import httpx
    import openai

log = logging.getLogger(__name__)

# Longer than any vendor's model name; what an answer reports beyond it is not a model name.
MAX_MODEL_CHARS = 100
# The SDKs retry nothing: a 429's wait longer than the timeout would be slept by the SDK, then cut by
# our timeout, and the next lead would ask again at once (``_SdkProvider._ask_retrying`` decides).
SDK_RETRIES = 0
# Statuses a second attempt can cure (as the SDKs' own retry rules have them); never a 400 or a 401.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
# The wait before the retry when the provider names none: 0.25 to 0.5 s, so workers do not retry in step.
BACKOFF_SECONDS = 0.25
# A Retry-After beyond this is taken as this: a misconfigured gateway must not silence the provider for a day.
MAX_PAUSE_SECONDS = 600.0
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
        self._connection_errors: tuple[type[BaseException], ...] = ()
        # Until when (time.monotonic) the provider asked not to be called, and the fallback reason meanwhile.
        self._paused_until = 0.0
        self._pause_reason = FallbackReason.RATE_LIMITED

    @abc.abstractmethod
    async def _ask(self, message: str) -> tuple[str | None, str | None]:
        """Send one request; the answer's text and the model that wrote it."""

    async def classify(self, notes: str, line: str, *, known_pii: Sequence[str | None] = ()) -> Insight:
        if time.monotonic() < self._paused_until:
            return self._fallback(notes, line, self._pause_reason)
        if addresses_the_model(notes):
            return self._fallback(notes, line, FallbackReason.INSTRUCTIONS_IN_NOTES)
        # One deadline for the budget's store, the attempt and the retry: a lead waits no longer than that.
        deadline = time.monotonic() + self._timeout
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                allowed = await self._budget.try_acquire(self.name.value, self._daily_limit)
        except Exception as exc:  # a shared budget's store is down or silent: spend nothing
            return self._fallback(notes, line, FallbackReason.ERROR, exc)
        if not allowed:
            return self._fallback(notes, line, FallbackReason.BUDGET_EXHAUSTED)
        message = user_message(notes, line, known_pii)
        started = time.perf_counter()
        try:
            # The SDK's own timeout applies per attempt; this one bounds the attempt and the retry together.
            async with asyncio.timeout_at(_loop_time(deadline)):
                text, model = await self._ask_retrying(message, deadline)
            answer = parse_answer(text)
        except InvalidAnswer as exc:
            return self._fallback(notes, line, FallbackReason.INVALID_ANSWER, exc)
        except Exception as exc:
            return self._fallback(notes, line, self._failure_reason(exc), exc)
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

    async def _ask_retrying(self, message: str, deadline: float) -> tuple[str | None, str | None]:
        """``_ask``, once more after a failure a retry can cure, when its wait ends before ``deadline``."""
        try:
            return await self._ask(message)
        except Exception as exc:
            wait = self._retry_wait(exc)
            if wait is None:
                raise
            if time.monotonic() + wait >= deadline:
                self._pause(exc)
                raise
            await asyncio.sleep(wait)
        try:
            return await self._ask(message)
        except Exception as exc:
            self._pause(exc)
            raise

    def _retry_wait(self, exc: BaseException) -> float | None:
        """Seconds to wait before retrying after ``exc``; None when a retry cannot help."""
        if isinstance(exc, self._timeout_errors):
            return None  # the attempt took the whole timeout: none is left for another
        status = _status_of(exc)
        if status is None and not isinstance(exc, self._connection_errors):
            return None
        if status is not None and status not in RETRYABLE_STATUSES and status < 500:
            return None
        asked = _retry_after(exc)
        return asked if asked is not None else BACKOFF_SECONDS * (1 + random.random())

    def _pause(self, exc: BaseException) -> None:
        """Ask the provider nothing more until the wait its failed answer asked for ends."""
        asked = _retry_after(exc)
        if asked is None or self._retry_wait(exc) is None:
            return
        self._paused_until = max(self._paused_until, time.monotonic() + min(asked, MAX_PAUSE_SECONDS))
        self._pause_reason = self._failure_reason(exc)
        log.warning("%s provider asked for a %.0f s pause: the local rules answer meanwhile", self.name.value, asked)

    def _failure_reason(self, exc: BaseException) -> FallbackReason:
        if isinstance(exc, self._timeout_errors):
            return FallbackReason.TIMEOUT
        return FallbackReason.RATE_LIMITED if _status_of(exc) == 429 else FallbackReason.ERROR

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


def _loop_time(monotonic: float) -> float:
    """``monotonic`` (a ``time.monotonic`` instant) on the running event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + monotonic - time.monotonic()


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK's error (``status_code`` in all three), None for a network failure."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(exc: BaseException) -> float | None:
    """The wait in seconds a failed answer asks for: retry-after-ms, or Retry-After in seconds or as an
    HTTP date (RFC 9110, section 10.2.3); None when it names none. OpenAI and Anthropic keep the answer's
    headers on ``response``, Cohere on the error itself."""
    headers = getattr(exc, "headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not isinstance(headers, Mapping):
        return None
    named = {str(key).lower(): str(value) for key, value in headers.items()}
    for header, unit in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(named[header]) * unit
        except (KeyError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    try:
        until = email.utils.parsedate_to_datetime(named["retry-after"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, until - time.time())


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
            api_key=self._api_key, base_url=self._base_url, timeout=self._timeout, max_retries=SDK_RETRIES
        )
        self._timeout_errors = (TimeoutError, openai.APITimeoutError)
        self._connection_errors = (openai.APIConnectionError,)

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
            max_retries=SDK_RETRIES,
            # No tracing spans from the SDK: they could carry request content to a collector.
            open_telemetry=False,
        )
        self._timeout_errors = (TimeoutError, anthropic.APITimeoutError)
        self._connection_errors = (anthropic.APIConnectionError,)

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
            max_retries=SDK_RETRIES,
            httpx_client=self._http,
            log_warning_experimental_features=False,
        )
        self._timeout_errors = (TimeoutError, httpx.TimeoutException)
        self._connection_errors = (httpx.TransportError,)

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
    # The SDK's own switch (OPENAI_LOG, ANTHROPIC_LOG), read at its import, may have set its logger to
    # DEBUG, which logs each request whole (the notes); INFO at most, as configure_logging means. A
    # logger it left unset inherits the platform's level, and is left so.
    sdk_logger = logging.getLogger(SDK_PACKAGES[provider.name])
    if logging.NOTSET < sdk_logger.level < logging.INFO:
        sdk_logger.setLevel(logging.INFO)
    log.info("lead insights from %s, model %s", provider.name.value, provider.model)
    return provider
