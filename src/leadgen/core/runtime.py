"""The async side of a Celery worker: one event loop thread and one engine per process.

Celery runs tasks in threads; the domain code is async. Each task hands its coroutine to this
process-wide loop, so connections are pooled and bound to a single loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.db import is_connection_failure, is_sqlite
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.targets.registry import TARGETS

T = TypeVar("T")
log = logging.getLogger(__name__)
# deadlock_detected and serialization_failure: PostgreSQL aborted this transaction so that another
# could go on, and expects it to be run again.
RUN_AGAIN_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_TRIES = 3
# A transaction the database connection failed under (a restart, a failover: connections dropped,
# then refused for a while) is run again this long, the wait between runs doubling up to the
# maximum. Well inside the notifications' SWEEP_HOLD: a message to the person whose outcome could
# not be recorded stays held as being sent, and a sweep would send it again once the hold ran out.
RECONNECT_FOR_SECONDS = 90.0
RECONNECT_FIRST_WAIT_SECONDS = 0.5
RECONNECT_MAX_WAIT_SECONDS = 8.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (everywhere but Windows): asyncpg's and uvicorn's I/O take far
    fewer Python steps on it than on the standard loop, and every lead goes through both."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def freeze_start_up_objects(*, collect: bool = True) -> None:
    """Keep what start-up built out of the garbage collector's full passes (``gc.freeze``).

    The modules, settings, clients, pools and scoring model a process builds as it starts live as
    long as it does, so a full pass never frees any of them, yet walked them all: on the
    orchestrator, some 110 ms with every lead in flight stalled (bench/pipeline: p99 110 ms where
    the median was 33, and more CPU per lead). Called once a served process is up, and again when
    its task runtime is built (by the first task: built at start, it would delay readiness); what
    either builds later is collected as before. ``collect`` first collects start-up's garbage, which
    would otherwise be kept for good: a pause of some 60 ms, for a process not serving yet."""
    if collect:
        gc.collect()
    gc.freeze()


class TaskRuntime:
    def __init__(self, settings: Settings, process_name: str = "worker") -> None:
        self.settings = settings
        self.process_name = process_name
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="leadgen-tasks", daemon=True)
        self._thread.start()
        self.resources = self.run(self._build())

    async def _build(self) -> Resources:
        resources = Resources.build(self.settings, TARGETS["worker"].needs, self.process_name)
        await resources.start()
        return resources

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 300) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            # Otherwise the work would go on, holding its transaction and row locks, while the task
            # is reported failed and its retry starts over beside it.
            future.cancel()
            raise

    def in_transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``work`` in a unit of work, run again on a conflict (``run_in_transaction``)."""
        return self.run(run_in_transaction(self.resources, work))

    def each_in_transaction(
        self, items: Iterable[uuid.UUID], work: Callable[[AsyncSession, uuid.UUID], Awaitable[bool]], what: str
    ) -> tuple[int, int]:
        """``work`` for each item, each in a unit of work of its own, so that one failure holds back
        no other: it is logged and counted, and the item is left for the next sweep to find.
        Returns how many ``work`` did (it answered true) and how many failed."""
        done = failed = 0
        unreachable = False
        for item in items:
            if unreachable:  # each would wait out the database again: the next sweep tries them
                failed += 1
                continue

            async def one(session: AsyncSession, item: uuid.UUID = item) -> bool:
                return await work(session, item)

            try:
                done += bool(self.in_transaction(one))
            except Exception as exc:
                failed += 1
                unreachable = is_connection_failure(exc)
                log.exception("%s %s failed; the next sweep tries again", what, item)
        return done, failed

    def close(self) -> None:
        self.run(self.resources.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


async def run_in_transaction(resources: Resources, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in a unit of work; again, from the start, when PostgreSQL aborted it to end a
    deadlock or a serialization conflict (every task's work is idempotent), and when the connection
    failed under it (``is_connection_failure``), for up to RECONNECT_FOR_SECONDS.

    Not when the connection failed as the transaction committed, or after: the commit may have
    reached the database, and run again, work that is not idempotent with its own effects (a
    message recorded as sent, or as being sent) would record them twice. ``work`` itself sends
    nothing to anybody: the notification tasks send between their transactions."""
    tries = 1
    reconnecting_since: float | None = None
    wait = RECONNECT_FIRST_WAIT_SECONDS
    while True:
        committing = False
        try:
            async with resources.unit_of_work() as session:
                result = await work(session)
                await session.flush()  # a failure from here on comes as the transaction commits
                committing = True
            return result
        except Exception as exc:
            code = getattr(exc.orig, "sqlstate", None) if isinstance(exc, DBAPIError) else None
            if code in RUN_AGAIN_SQLSTATES:
                if tries == TRANSACTION_TRIES:
                    raise
                log.warning("transaction aborted by the database (SQLSTATE %s), running it again", code)
                tries += 1
                continue
            if committing or not is_connection_failure(exc):
                raise
            now = time.monotonic()
            reconnecting_since = now if reconnecting_since is None else reconnecting_since
            if now + wait - reconnecting_since > RECONNECT_FOR_SECONDS:
                raise
            log.warning("the database connection failed (%s), running the transaction again", type(exc).__name__)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_WAIT_SECONDS)


# SQLite's busy handler sleeps up to 100 ms between its tries for the write lock
# (sqliteDefaultBusyCallback) and keeps no queue of waiters.
_SQLITE_LONGEST_BUSY_SLEEP_S = 0.1


async def make_way_for_waiting_writers(resources: Resources) -> None:
    """Between the transactions of a long run of them (an import, a purge): on SQLite, a pause
    longer than the busy handler's longest sleep, so that a writer waiting for the lock (intake, an
    opt-out) wakes to find it free. Without it the run, beginning again the moment it commits, took
    the lock back batch after batch, and the waiter timed out behind a long import. PostgreSQL
    queues its lock waiters and takes row locks, not one for the database: no pause."""
    if resources.engine is not None and is_sqlite(resources.engine):
        await asyncio.sleep(1.5 * _SQLITE_LONGEST_BUSY_SLEEP_S)


_runtime: TaskRuntime | None = None
_process_name = "worker"
_freeze_when_built = False
_lock = threading.Lock()


def name_task_runtime(process_name: str, *, freeze_when_built: bool = False) -> None:
    """Name the runtime the process's tasks will create (PostgreSQL's application_name), so that
    the orchestrator's pipeline statements are told apart from the notification worker's; in a
    served process, what it builds is frozen once it is built (``freeze_start_up_objects``)."""
    global _process_name, _freeze_when_built
    _process_name = process_name
    _freeze_when_built = freeze_when_built


def task_runtime() -> TaskRuntime:
    """The process's runtime, created on first use by a task."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = TaskRuntime(get_settings(), _process_name)
            if _freeze_when_built:
                freeze_start_up_objects(collect=False)  # in the first task: no pause
        return _runtime


def close_task_runtime() -> None:
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None
