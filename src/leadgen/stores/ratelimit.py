"""Rate limits: Redis-backed across replicas, in memory for the embedded platform.

While Redis does not answer, each limit does what its caller chose: ``hit`` and
``seconds_until_allowed`` refuse the request (``RateLimitsUnavailable``: 503 with Retry-After),
``wait_after_hit_failing_open`` lets it through uncounted. The in-memory store of ``leadgen up``
always answers.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import parse
from limits.aio.storage import MemoryStorage, RedisSentinelStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from leadgen.core.errors import Unavailable
from leadgen.core.settings import Settings
from leadgen.stores.redis import TIMEOUT

log = logging.getLogger(__name__)

# Beside the limiter rather than in core.metrics: only the limiter counts it.
RATE_LIMIT_STORE_ERRORS = Counter(
    "leadgen_rate_limit_store_errors_total",
    "Rate-limit checks that Redis did not answer, by limit (scope) and what the request got: "
    "allowed (let through uncounted) or refused (503).",
    ["scope", "outcome"],
)
# Every request meets the outage: one warning a minute says it goes on, the counter says how often.
WARNING_INTERVAL_SECONDS = 60.0
RETRY_AFTER_SECONDS = 5
# Bounded waits, so that a Redis that drops packets costs a request seconds, not minutes; and one
# retry on a fresh connection for a pooled one Redis closed (restart, failover), so that the first
# request after Redis is back is not refused.
_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": TIMEOUT,
    "socket_connect_timeout": TIMEOUT,
    "retry_on_error": [RedisConnectionError],
}
# What the store's client raises when Redis cannot be reached: redis-py's errors, and under uvloop
# a RuntimeError for a connection the server closed as it was opened, which redis-py passes on.
_STORE_FAILURES = (RedisError, OSError, RuntimeError)


class RateLimitsUnavailable(Unavailable):
    """A limit that must hold could not be checked: the request is refused, nothing was done."""


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._last_warning = -math.inf
        self._errors_since_warning = 0

    async def hit(self, rule: str, scope: str, *identifiers: str) -> bool:
        """Count one request; False when the caller is over ``rule`` (e.g. ``50/second``).
        ``RateLimitsUnavailable`` when the store does not answer."""
        limit = parse(rule)
        try:
            return await self._limiter.hit(limit, scope, *identifiers)
        except _STORE_FAILURES as exc:
            raise self._refusal(scope, exc) from exc

    async def wait_after_hit_failing_open(self, rule: str, scope: str, *identifiers: str) -> int:
        """Count one request: 0 when ``rule`` allows it, else the whole seconds (at least 1) until
        it allows the next, for the refusal's Retry-After. 0 too when the store does not answer: the
        request goes through uncounted."""
        limit = parse(rule)
        try:
            if await self._limiter.hit(limit, scope, *identifiers):
                return 0
            stats = await self._limiter.get_window_stats(limit, scope, *identifiers)
        except _STORE_FAILURES as exc:
            self._store_failed(scope, "allowed", exc)
            return 0
        return max(math.ceil(stats.reset_time - time.time()), 1)

    async def seconds_until_allowed(self, rule: str, scope: str, *identifiers: str) -> float:
        """0 while ``rule`` allows the caller one more request; else how long until it does. Counts nothing.
        ``RateLimitsUnavailable`` when the store does not answer."""
        limit = parse(rule)
        try:
            stats = await self._limiter.get_window_stats(limit, scope, *identifiers)
        except _STORE_FAILURES as exc:
            raise self._refusal(scope, exc) from exc
        return 0.0 if stats.remaining > 0 else max(stats.reset_time - time.time(), 0.0)

    def _refusal(self, scope: str, exc: Exception) -> RateLimitsUnavailable:
        self._store_failed(scope, "refused", exc)
        return RateLimitsUnavailable(
            f"the rate limits cannot be checked now; nothing was done, try again in {RETRY_AFTER_SECONDS} seconds",
            retry_after=RETRY_AFTER_SECONDS,
        )

    def _store_failed(self, scope: str, outcome: str, exc: Exception) -> None:
        RATE_LIMIT_STORE_ERRORS.labels(scope, outcome).inc()
        self._errors_since_warning += 1
        now = time.monotonic()
        if now - self._last_warning < WARNING_INTERVAL_SECONDS:
            return
        log.warning(
            "the rate limits' store does not answer (%s: %s): %d check(s) failed since the last "
            "warning; leadgen_rate_limit_store_errors_total counts each, by limit and outcome",
            type(exc).__name__,
            exc,
            self._errors_since_warning,
        )
        self._last_warning = now
        self._errors_since_warning = 0


def create_rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis.embedded:
        return RateLimiter(MemoryStorage())
    if settings.redis.sentinels:
        hosts = ",".join(f"{h}:{p}" for h, p in settings.redis.sentinel_hosts())
        # The master's password; limits hands it to the Sentinels as well, as stores/redis.py does.
        client_options = dict(_CLIENT_OPTIONS)
        if settings.redis.password:
            client_options["password"] = settings.redis.password.get_secret_value()
        # No retries of a Sentinel (redis-py's default for a client is ten, with backoff): the next
        # one is asked instead.
        sentinel_options: dict[str, Any] = {
            "socket_timeout": TIMEOUT,
            "socket_connect_timeout": TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
        }
        return RateLimiter(
            RedisSentinelStorage(
                f"async+redis+sentinel://{hosts}/{settings.redis.sentinel_master}",
                implementation="redispy",
                # The master only: a replica a failure has not reached yet would let a guess through.
                use_replicas=False,
                sentinel_kwargs=sentinel_options,
                **client_options,
            )
        )
    assert settings.redis.url is not None
    uri = "async+" + settings.redis.url.get_secret_value()
    return RateLimiter(RedisStorage(uri, implementation="redispy", **_CLIENT_OPTIONS))
