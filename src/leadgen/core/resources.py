"""What a process connects to, built once from the resources its targets need."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from celery import Celery
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadgen.core import db
from leadgen.core.settings import Settings
from leadgen.outbox import repository as outbox
from leadgen.stores.broker import create_celery
from leadgen.stores.ratelimit import RateLimiter, create_rate_limiter
from leadgen.stores.redis import create_redis
from leadgen.targets.registry import BROKER, DB, REDIS

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[None]]


@dataclass
class Resources:
    settings: Settings
    process_name: str
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    redis: Redis | None = None
    limiter: RateLimiter | None = None
    celery: Celery | None = None
    checks: dict[str, Check] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, needs: frozenset[str], process_name: str) -> Resources:
        res = cls(settings, process_name)
        if DB in needs:
            res.engine = db.create_engine(settings, process_name)
            res.sessions = db.create_sessionmaker(res.engine)
            engine = res.engine
            res.checks["database"] = lambda: db.ping(engine)
        if needs & {REDIS, BROKER}:
            res.redis = create_redis(settings)
            res.limiter = create_rate_limiter(settings)
            if res.redis is not None:
                client = res.redis
                res.checks["redis"] = lambda: _redis_ping(client)
        if BROKER in needs:
            res.celery = create_celery(settings)
        return res

    def require_sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.sessions is None:
            raise RuntimeError(f"{self.process_name} was built without a database")
        return self.sessions

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction; the work it queued (outbox events) is dispatched after the commit."""
        async with self.require_sessions()() as session:
            async with session.begin():
                yield session
            for task, key in outbox.take_dispatches(session):
                await self.dispatch(task, key)

    async def dispatch(self, task: str, *args: str) -> None:
        """Hand work to the queue after commit; a failure is logged and the relay retries it."""
        if self.celery is None:
            return
        celery = self.celery
        try:
            await asyncio.to_thread(celery.send_task, task, args=list(args), retry=False)
        except Exception as exc:  # the outbox still holds the event
            log.warning("could not enqueue %s, the outbox relay will retry: %s", task, exc)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        if self.engine is not None:
            await self.engine.dispose()


async def _redis_ping(client: Redis) -> None:
    await client.ping()
