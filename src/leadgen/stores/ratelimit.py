"""Rate limits: Redis-backed across replicas, in memory for the embedded platform."""

from __future__ import annotations

import time

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from leadgen.core.settings import Settings


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, rule: str, *identifiers: str) -> bool:
        """Count one request; False when the caller is over ``rule`` (e.g. ``50/second``)."""
        return await self._limiter.hit(parse(rule), *identifiers)

    async def seconds_until_allowed(self, rule: str, *identifiers: str) -> float:
        """0 while ``rule`` allows the caller one more request; else how long until it does. Counts nothing."""
        stats = await self._limiter.get_window_stats(parse(rule), *identifiers)
        return 0.0 if stats.remaining > 0 else max(stats.reset_time - time.time(), 0.0)


def create_rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis.embedded:
        return RateLimiter(MemoryStorage())
    if settings.redis.sentinels:
        hosts = ",".join(f"{h}:{p}" for h, p in settings.redis.sentinel_hosts())
        password = settings.redis.password.get_secret_value() if settings.redis.password else ""
        auth = f":{password}@" if password else ""
        uri = f"async+redis+sentinel://{auth}{hosts}/{settings.redis.sentinel_master}"
        return RateLimiter(RedisStorage(uri, implementation="redispy"))
    assert settings.redis.url is not None
    uri = "async+" + settings.redis.url.get_secret_value()
    return RateLimiter(RedisStorage(uri, implementation="redispy"))
