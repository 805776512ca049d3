"""Daily call budgets: per UTC day, in this process or shared through Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
from redis.asyncio import Redis

from leadgen.insights.budget import KEY_TTL_SECONDS, InProcessBudget, RedisBudget, process_budget
from tests.conftest import REDIS_URL, require_server


class Clock:
    def __init__(self) -> None:
        self.day = date(2026, 3, 1)

    def __call__(self) -> date:
        return self.day


class TestInProcessBudget:
    async def test_limit_per_provider_and_day(self) -> None:
        clock = Clock()
        budget = InProcessBudget(today=clock)
        assert [await budget.try_acquire("openai", 2) for _ in range(3)] == [True, True, False]
        assert await budget.try_acquire("cohere", 2)
        clock.day = date(2026, 3, 2)
        assert await budget.try_acquire("openai", 2)
        assert budget.used("openai") == 1

    async def test_zero_limit(self) -> None:
        assert not await InProcessBudget().try_acquire("openai", 0)

    def test_one_budget_per_process(self) -> None:
        assert process_budget() is process_budget()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
    require_server("Redis", host, int(port))
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.redis
class TestRedisBudget:
    async def test_shared_between_instances_and_expiring(self, redis: Redis) -> None:
        clock = Clock()
        provider = f"test-{uuid.uuid4().hex[:8]}"  # a key of its own, whatever else uses this database
        first, second = RedisBudget(redis, today=clock), RedisBudget(redis, today=clock)
        try:
            assert await first.try_acquire(provider, 3)
            assert await second.try_acquire(provider, 3)
            assert await first.try_acquire(provider, 3)
            assert not await second.try_acquire(provider, 3)
            key = first.key(provider)
            assert key == f"leadgen:llm:calls:{provider}:2026-03-01"
            assert 0 < await redis.ttl(key) <= KEY_TTL_SECONDS
            clock.day = date(2026, 3, 2)
            assert await first.try_acquire(provider, 3)
        finally:
            await redis.delete(f"leadgen:llm:calls:{provider}:2026-03-01", f"leadgen:llm:calls:{provider}:2026-03-02")

    async def test_zero_limit_touches_nothing(self, redis: Redis) -> None:
        budget = RedisBudget(redis)
        provider = f"test-{uuid.uuid4().hex[:8]}"
        assert not await budget.try_acquire(provider, 0)
        assert await redis.exists(budget.key(provider)) == 0
