"""The Redis client for readiness and hot reads; None when the platform runs embedded."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from leadgen.core.settings import Settings


def create_redis(settings: Settings) -> Redis | None:
    cfg = settings.redis
    if cfg.embedded:
        return None
    timeouts = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
    if cfg.sentinels:
        password = cfg.password.get_secret_value() if cfg.password else None
        sentinel = Sentinel(
            cfg.sentinel_hosts(), sentinel_kwargs={"password": password, **timeouts}, **timeouts
        )
        return sentinel.master_for(cfg.sentinel_master, password=password)
    assert cfg.url is not None
    return Redis.from_url(cfg.url.get_secret_value(), **timeouts)
