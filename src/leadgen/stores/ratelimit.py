"""Rate limits: Redis-backed across replicas, in memory for the embedded platform."""

from __future__ import annotations

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
