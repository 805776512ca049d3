"""The graph holds agents and their licences as derived data; SQL stays the source of truth."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import repository
from leadgen.models import Agent
from leadgen.stores.graph import GraphStore


async def write_agent(graph: GraphStore, agent: Agent) -> None:
    """Write one agent (its licences loaded) through to the graph."""
    await graph.upsert_agent(
        agent.id, agent.name, agent.active, [(li.state, li.line, li.expires_on) for li in agent.licences]
    )


async def sync_all(session: AsyncSession, graph: GraphStore) -> int:
    """Rebuild every agent in the graph from SQL (start-up, and `leadgen graph sync`)."""
    agents = await repository.listing(session)
    for agent in agents:
        await write_agent(graph, agent)
    return len(agents)
