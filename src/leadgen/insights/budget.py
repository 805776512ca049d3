"""Daily call budgets for the LLM providers, counted per UTC day.

``InProcessBudget`` counts in this process only: with N orchestrator replicas the cluster may make
up to N times ``LEADGEN_LLM_DAILY_CALL_LIMIT`` calls a day. ``RedisBudget`` shares one counter per
provider and day across every process that uses the same Redis:

    key    leadgen:llm:calls:<provider>:<YYYY-MM-DD>   (UTC date)
    op     INCR, then EXPIRE 172800 NX (two days, so yesterday's key is gone without a sweeper)
    allow  when the value INCR returned is <= the limit
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Protocol

from redis.asyncio import Redis

KEY_PREFIX = "leadgen:llm:calls"
KEY_TTL_SECONDS = 2 * 24 * 3600


def utc_today() -> date:
    return datetime.now(UTC).date()


class CallBudget(Protocol):
    async def try_acquire(self, provider: str, limit: int) -> bool:
        """Count one call for ``provider`` today; False (and nothing may be sent) once ``limit`` is reached."""
        ...


class InProcessBudget:
    """Counters in this process's memory, keyed by (provider, UTC day); thread-safe for Celery's thread pools."""

    def __init__(self, today: Callable[[], date] = utc_today) -> None:
        self._today = today
        self._counts: dict[tuple[str, date], int] = {}
        self._lock = threading.Lock()

    async def try_acquire(self, provider: str, limit: int) -> bool:
        day = self._today()
        with self._lock:
            # Only today's counter matters; dropping older ones keeps the dict to one entry per provider.
            for key in [k for k in self._counts if k[1] != day]:
                del self._counts[key]
            used = self._counts.get((provider, day), 0)
            if used >= limit:
                return False
            self._counts[(provider, day)] = used + 1
            return True

    def used(self, provider: str) -> int:
        return self._counts.get((provider, self._today()), 0)


class RedisBudget:
    """One counter per provider and UTC day shared by every replica (see the module docstring)."""

    def __init__(self, redis: Redis, today: Callable[[], date] = utc_today) -> None:
        self._redis = redis
        self._today = today

    def key(self, provider: str) -> str:
        return f"{KEY_PREFIX}:{provider}:{self._today().isoformat()}"

    async def try_acquire(self, provider: str, limit: int) -> bool:
        if limit <= 0:
            return False
        key = self.key(provider)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, KEY_TTL_SECONDS, nx=True)
            count, _ = await pipe.execute()
        return int(count) <= limit


_process_budget: InProcessBudget | None = None
_process_budget_lock = threading.Lock()


def process_budget() -> InProcessBudget:
    """The budget every provider of this process shares unless it is given another.

    Process-wide on purpose: a provider built per task or per request must not start a fresh count.
    """
    global _process_budget
    with _process_budget_lock:
        if _process_budget is None:
            _process_budget = InProcessBudget()
        return _process_budget
