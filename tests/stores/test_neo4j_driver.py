"""How the Neo4j adapter uses its driver, checked without a server (none can be obtained here): calls
to a server that is down fail within seconds, writes share the bookmarks of reads, and readiness
needs the schema. The real driver runs; only a server is missing (a closed port), or, where a
server's answer is needed, the driver's transaction runner or ``execute_query`` is stubbed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from neo4j import AsyncDriver
from neo4j._async.work.session import AsyncSession as Neo4jSession
from neo4j.exceptions import ServiceUnavailable

from leadgen.core.settings import Settings
from leadgen.stores.graph import create_graph_store
from leadgen.stores.graph.neo4j_store import CONSTRAINTS, GraphSchemaMissing, Neo4jGraphStore

CLOSED_PORT = "bolt://127.0.0.1:1"


@pytest.fixture
async def down() -> AsyncIterator[Neo4jGraphStore]:
    store = Neo4jGraphStore.connect(CLOSED_PORT, "neo4j", "password")
    yield store
    await store.close()


async def seconds_to_fail(call: Awaitable[object]) -> float:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        await call
    return time.monotonic() - started


class TestServerDown:
    """The driver's own default tries a transaction again for 30 s: an agent's change or a lead's
    screening held its request or transaction that long."""

    async def test_a_write_fails_within_seconds(self, down: Neo4jGraphStore) -> None:
        assert await seconds_to_fail(down.link_lead("l1", "auto", "TX", [("phone", "h")])) < 5

    async def test_a_read_fails_within_seconds(self, down: Neo4jGraphStore) -> None:
        assert await seconds_to_fail(down.duplicates_of("l1")) < 5

    async def test_readiness_fails_within_seconds(self, down: Neo4jGraphStore) -> None:
        assert await seconds_to_fail(down.ping()) < 5

    async def test_the_settings_reach_the_driver(self, tmp_path: Any) -> None:
        settings = Settings(
            common={"data_dir": tmp_path},
            neo4j={"uri": CLOSED_PORT, "password": "p" * 32, "retry_seconds": 0.1, "connect_timeout_seconds": 1},
        )
        store = create_graph_store(settings)
        try:
            # One try, one wait of about a second, one more try.
            assert await seconds_to_fail(store.link_lead("l1", "auto", "TX", [("phone", "h")])) < 2
        finally:
            await store.close()


async def test_writes_use_the_bookmark_manager_of_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a ``neo4j://`` cluster a read right after a write then waits for a member that has it."""
    seen: list[tuple[str, object]] = []

    async def run_transaction(
        self: Neo4jSession, access_mode: str, api: object, work: Callable[..., object], args: Any, kwargs: Any
    ) -> object:
        seen.append((access_mode, self._config.bookmark_manager))
        return type("Answer", (), {"records": []})()

    monkeypatch.setattr(Neo4jSession, "_run_transaction", run_transaction)
    store = Neo4jGraphStore.connect("neo4j://graph.invalid:7687", "neo4j", "password")
    try:
        await store.link_lead("l1", "auto", "TX", [("phone", "h")])
        await store.upsert_agent("a1", "Agent", True, [])
        await store.forget_lead("l1")
        await store.duplicates_of("l1")
        reads = store._driver.execute_query_bookmark_manager
        assert [mode for mode, _ in seen] == ["WRITE", "WRITE", "WRITE", "READ"]
        assert all(manager is reads for _, manager in seen)
    finally:
        await store.close()


class Records:
    def __init__(self, names: list[str]) -> None:
        self.records = [{"name": name} for name in names]


class TestReadiness:
    async def test_fails_while_the_schema_is_missing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A server whose volume was lost answers, with none of the constraints."""
        store = Neo4jGraphStore.connect(CLOSED_PORT, "neo4j", "password")
        answers = [Records([]), Records([*CONSTRAINTS][:-1]), Records([*CONSTRAINTS, "someone_elses"])]

        async def execute_query(driver: AsyncDriver, query: str, *args: Any, **kwargs: Any) -> Records:
            assert query.startswith("SHOW CONSTRAINTS")
            return answers.pop(0)

        monkeypatch.setattr(AsyncDriver, "execute_query", execute_query)
        try:
            with pytest.raises(GraphSchemaMissing, match="leadgen_agent_id"):
                await store.ping()
            with pytest.raises(GraphSchemaMissing, match="leadgen_carrier_name"):
                await store.ping()
            await store.ping()
        finally:
            await store.close()
