"""What a process connects to, built once from the resources its targets need."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from celery import Celery
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadgen.agents.graph_sync import sync_all
from leadgen.core import db
from leadgen.core.settings import Settings
from leadgen.insights.budget import RedisBudget
from leadgen.insights.providers import IntentProvider, create_intent_provider
from leadgen.outbox import repository as outbox
from leadgen.stores.broker import create_celery
from leadgen.stores.graph import GraphStore, create_graph_store
from leadgen.stores.ratelimit import RateLimiter, create_rate_limiter
from leadgen.stores.redis import create_redis
from leadgen.stores.vectors import VectorStore, create_vector_store
from leadgen.targets.registry import BROKER, DB, GRAPH, REDIS, VECTORS

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[None]]
# How long a unit of work waits for the queue to take each of its events once committed; a request
# answers only after that. With the broker down kombu takes seconds to give up, and the outbox
# relay hands the events on anyway; a publish still waiting for the thread is cancelled.
DISPATCH_WAIT = 0.5


@dataclass
class Resources:
    settings: Settings
    process_name: str
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    redis: Redis | None = None
    limiter: RateLimiter | None = None
    celery: Celery | None = None
    vectors: VectorStore | None = None
    graph: GraphStore | None = None
    insights: IntentProvider | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    # kombu publishes synchronously. One thread keeps one broker connection warm, where a thread
    # per message would open new ones under load and fight over the GIL.
    publisher: ThreadPoolExecutor | None = None

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
            res.publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadgen-publish")
        if VECTORS in needs:
            # The AI pipeline's processes: lead embeddings and the reading of lead notes.
            res.insights = create_intent_provider(settings, budget=RedisBudget(res.redis) if res.redis else None)
            res.vectors = create_vector_store(settings)
            res.checks["qdrant"] = res.vectors.ping
        if GRAPH in needs:
            res.graph = create_graph_store(settings)
            res.checks["graph"] = res.graph.ping
        return res

    async def start(self) -> None:
        """Create what the stores need (collection, graph schema) and bring the graph up to date.

        Failures are logged, not raised: the process still starts and /readyz reports the store.
        """
        try:
            if self.vectors is not None:
                await self.vectors.ensure_collection()
            if self.graph is not None:
                await self.graph.ensure_schema()
                if self.sessions is not None:
                    async with self.sessions() as session:
                        synced = await sync_all(session, self.graph)
                    log.info("graph: %d agents synchronised from the database", synced)
        except Exception as exc:
            log.warning("store start-up incomplete, readiness will tell: %s", exc)

    def require_sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.sessions is None:
            raise RuntimeError(f"{self.process_name} was built without a database")
        return self.sessions

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction; the work it queued (outbox events, metrics, graph writes) is done after the commit."""
        async with self.require_sessions()() as session:
            async with session.begin():
                yield session
            for callback in db.take_after_commit(session):
                if (pending := callback()) is not None:
                    await pending
            for task, key in outbox.take_dispatches(session):
                await self.dispatch(task, key)

    async def dispatch(self, task: str, *args: str) -> None:
        """Hand work to the queue after commit; a failure is logged and the relay retries it."""
        if self.celery is None or self.publisher is None:
            return
        send = partial(self.celery.send_task, task, args=list(args), retry=False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(self.publisher, send), DISPATCH_WAIT)
        except TimeoutError:
            log.warning("the queue did not take %s in time, the outbox relay will hand it on", task)
        except Exception as exc:  # the outbox still holds the event
            log.warning("could not enqueue %s, the outbox relay will retry: %s", task, exc)

    async def close(self) -> None:
        if self.insights is not None:
            await self.insights.aclose()
        if self.vectors is not None:
            await self.vectors.close()
        if self.graph is not None:
            await self.graph.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.engine is not None:
            await self.engine.dispose()
        if self.publisher is not None:
            self.publisher.shutdown(wait=False)


async def _redis_ping(client: Redis) -> None:
    await client.ping()
