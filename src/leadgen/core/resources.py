"""What a process connects to, built once from the resources its targets need."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import astuple, dataclass, field
from functools import partial

from celery import Celery
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadgen.agents.graph_sync import sync_all
from leadgen.core import db
from leadgen.core.settings import ConfigError, Settings
from leadgen.insights.budget import RedisBudget
from leadgen.insights.providers import IntentProvider, create_intent_provider
from leadgen.outbox import repository as outbox
from leadgen.stores.broker import create_celery
from leadgen.stores.embedding import word_key
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
# A store's set-up that failed is tried again this long after, the wait doubling up to the maximum.
SET_UP_RETRY_FIRST_SECONDS = 1.0
SET_UP_RETRY_MAX_SECONDS = 60.0
AGENTS = "agents"
VECTOR_FILL = "vector fill"
# Leads read and embedded per transaction while a new collection is filled.
VECTOR_FILL_BATCH = 500


class NotSetUp(Exception):
    """A store's set-up (its collection, its schema) has not succeeded yet."""


@dataclass
class SetUp:
    """A piece of start-up work, tried in the background until it succeeds: a store that was not up
    yet, or not as this build needs it, when the process started is set up once it is."""

    name: str
    work: Callable[[], Awaitable[None]]
    done: bool = False
    _retrying: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _cancelled: bool = field(default=False, init=False, repr=False)

    async def start(self) -> None:
        """Run the work; when it fails, go on trying in the background."""
        if not await self._run():
            self.retry()

    def start_in_background(self) -> None:
        """Run the work in the background, tried until it succeeds; for work that may take long."""
        self.retry(after=0.0)

    async def _run(self) -> bool:
        try:
            await self.work()
        except Exception as exc:
            log.warning("%s: set-up failed, tried again in the background: %s", self.name, exc)
            return False
        self.done = True
        return True

    def retry(self, after: float | None = None) -> None:
        """Run the set-up again in the background until it succeeds, unless it already runs."""
        if self._cancelled or self.running:
            return
        first_wait = SET_UP_RETRY_FIRST_SECONDS if after is None else after
        self._retrying = asyncio.get_running_loop().create_task(
            self._until_done(first_wait), name=f"set-up {self.name}"
        )

    @property
    def running(self) -> bool:
        return self._retrying is not None and not self._retrying.done()

    async def _until_done(self, wait: float) -> None:
        while True:
            await asyncio.sleep(wait)
            if await self._run():
                log.info("%s: set up", self.name)
                return
            wait = min(wait * 2, SET_UP_RETRY_MAX_SECONDS) if wait else SET_UP_RETRY_FIRST_SECONDS

    async def cancel(self) -> None:
        self._cancelled = True
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrying

    async def check(self, ping: Check) -> None:
        """Readiness: the set-up succeeded and the store answers as set up. A store that stopped
        answering so (it lost its collection or schema) is set up again."""
        if not self.done:
            raise NotSetUp(f"{self.name} is not set up yet")
        try:
            await ping()
        except Exception:
            self.retry()
            raise


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
    # The stores' set-ups (by the name of their readiness check), and the agents' copy in the graph.
    set_ups: dict[str, SetUp] = field(default_factory=dict)
    # kombu publishes synchronously. One thread keeps one broker connection warm, where a thread
    # per message would open new ones under load and fight over the GIL.
    publisher: ThreadPoolExecutor | None = None

    @classmethod
    def build(cls, settings: Settings, needs: frozenset[str], process_name: str) -> Resources:
        res = cls(settings, process_name)
        if VECTORS in needs:
            _load_scoring_model()
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
            res._add_store("qdrant", res._set_up_vectors, res.vectors.ping)
        if GRAPH in needs:
            res.graph = create_graph_store(settings)
            res._add_store("graph", res.graph.ensure_schema, res.graph.ping)
            if res.sessions is not None:
                # Not a readiness check of its own: it fails only while the database or the graph is
                # down, which their checks report, and the periodic agents.sync_graph repeats it.
                res.set_ups[AGENTS] = SetUp(AGENTS, res._sync_agents)
        return res

    def _add_store(self, name: str, work: Callable[[], Awaitable[None]], ping: Check) -> None:
        set_up = self.set_ups[name] = SetUp(name, work)
        self.checks[name] = partial(set_up.check, ping)

    async def _set_up_vectors(self) -> None:
        """The collection, then (not awaited: it may take minutes, and the collection is usable
        meanwhile) the embedding of every lead into it if it was created since the database had them."""
        assert self.vectors is not None
        await self.vectors.ensure_collection()
        if self.sessions is None:
            return
        fill = self.set_ups.get(VECTOR_FILL)
        if fill is None or not fill.running:
            # Not a readiness check: the pipeline writes every new lead into the collection meanwhile.
            fill = self.set_ups[VECTOR_FILL] = SetUp(VECTOR_FILL, self._fill_vectors)
            fill.start_in_background()

    async def _fill_vectors(self) -> None:
        from leadgen.pipeline.rebuild import fill_vectors  # the pipeline's modules, for these processes only

        assert self.engine is not None and self.vectors is not None
        words = word_key(self.settings.security.pii_hash_key.get_secret_value())
        filled = await fill_vectors(self.engine, self.vectors, word_key=words, batch_size=VECTOR_FILL_BATCH)
        if filled is not None:
            log.info("qdrant: %d leads embedded into the new collection, %d erased leads removed", *astuple(filled))

    async def _sync_agents(self) -> None:
        assert self.graph is not None
        async with self.require_sessions()() as session:
            synced = await sync_all(session, self.graph)
        log.info("graph: %d agents synchronised from the database", synced)

    async def start(self) -> None:
        """Set up each store (the vector collection, the graph's schema), then copy the agents into
        the graph.

        A set-up that fails is logged, not raised, and tried again in the background until it
        succeeds: the process still starts, and /readyz reports the store meanwhile.
        """
        stores = [set_up for name, set_up in self.set_ups.items() if name not in (AGENTS, VECTOR_FILL)]
        await asyncio.gather(*(set_up.start() for set_up in stores))
        if AGENTS in self.set_ups:
            await self.set_ups[AGENTS].start()

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
        for set_up in list(self.set_ups.values()):
            await set_up.cancel()
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


def _load_scoring_model() -> None:
    """The AI pipeline's processes (they score leads) load the model as they start: one they cannot
    use stops them there, named, rather than failing each lead's task once it runs."""
    from leadgen.scoring.model import ModelFileError, default_model  # numpy: for these processes only

    try:
        default_model()
    except ModelFileError as exc:
        raise ConfigError([f"{exc} (the file ships with leadgen: reinstall it, or rebuild the image)"]) from None


async def _redis_ping(client: Redis) -> None:
    await client.ping()
