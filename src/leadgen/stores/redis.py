"""The Redis client for readiness and hot reads; None when the platform runs embedded."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from leadgen.core.settings import Settings

TIMEOUT = 2.0


def create_redis(settings: Settings) -> Redis | None:
    cfg = settings.redis
    if cfg.embedded:
        return None
    if cfg.sentinels:
        password = cfg.password.get_secret_value() if cfg.password else None
        # redis-py takes an IPv6 address bare; the URLs the broker and the limiter build need brackets.
        hosts = [(host.strip("[]"), port) for host, port in cfg.sentinel_hosts()]
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            hosts,
            sentinel_kwargs={"password": password, "socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT},
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
        )
        master: Redis = sentinel.master_for(cfg.sentinel_master, password=password)
        return master
    assert cfg.url is not None
    return Redis.from_url(cfg.url.get_secret_value(), socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
