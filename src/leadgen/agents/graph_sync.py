"""The graph holds agents and their licences as derived data; SQL stays the source of truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import repository
from leadgen.core.db import after_commit
from leadgen.models import Agent
from leadgen.stores.graph import GraphStore

log = logging.getLogger(__name__)
# How long an agent's change waits for its write to the graph before the answer goes out anyway:
# a graph that answers (in milliseconds) has the change when the admin hears back, and one that is
# down (a Neo4j call fails only after its retries) holds no answer for long. The write goes on in
# the background.
GRAPH_WRITE_WAIT = 1.0
# The writes still running: asyncio keeps only a weak reference to a task.
_writes: set[asyncio.Task[None]] = set()


async def write_agent(graph: GraphStore, agent: Agent) -> None:
    """Write one agent (its licences loaded) through to the graph."""
    await graph.upsert_agent(agent.id, agent.name, agent.active, _licences(agent))


def _licences(agent: Agent) -> list[tuple[str, str, date]]:
    return [(li.state, li.line, li.expires_on) for li in agent.licences]


def write_agent_after_commit(session: AsyncSession, graph: GraphStore | None, agent: Agent) -> None:
    """Write the agent through to the graph once the session's transaction has committed: written
    before, a commit that then failed would leave the graph with a change the database does not
    have. The answer waits for the write at most ``GRAPH_WRITE_WAIT``; a failed write is logged,
    not raised (the change is committed): the periodic sync ``agents.sync_graph``, which the
    scheduler sends every 5 minutes (``stores.broker``), writes every agent again."""
    if graph is None:
        return

    async def write(upsert: Coroutine[Any, Any, None]) -> None:
        try:
            await upsert
        except Exception:
            log.exception("agent %s not written to the graph; the periodic sync will", agent.id)

    async def start() -> None:
        # The agent is read here, while its session is open: the write may outlive the session.
        upsert = graph.upsert_agent(agent.id, agent.name, agent.active, _licences(agent))
        task = asyncio.get_running_loop().create_task(write(upsert), name=f"graph write of agent {agent.id}")
        _writes.add(task)
        task.add_done_callback(_writes.discard)
        await asyncio.wait({task}, timeout=GRAPH_WRITE_WAIT)

    after_commit(session, start)


async def sync_all(session: AsyncSession, graph: GraphStore) -> int:
    """Write every agent to the graph from SQL (start-up, ``agents.sync_graph``, and
    ``leadgen graph rebuild``)."""
    agents = await repository.listing(session)
    for agent in agents:
        await write_agent(graph, agent)
    return len(agents)
