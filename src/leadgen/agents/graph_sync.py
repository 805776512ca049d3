"""The graph holds agents and their licences as derived data; SQL stays the source of truth."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import repository
from leadgen.core.db import after_commit
from leadgen.models import Agent
from leadgen.stores.graph import GraphStore

log = logging.getLogger(__name__)


async def write_agent(graph: GraphStore, agent: Agent) -> None:
    """Write one agent (its licences loaded) through to the graph."""
    await graph.upsert_agent(
        agent.id, agent.name, agent.active, [(li.state, li.line, li.expires_on) for li in agent.licences]
    )


def write_agent_after_commit(session: AsyncSession, graph: GraphStore | None, agent: Agent) -> None:
    """Write the agent through to the graph once the session's transaction has committed: written
    before, a commit that then failed would leave the graph with a change the database does not
    have. A failed write is logged, not raised (the change is committed): the periodic sync
    (``agents.sync_graph``) brings the graph up to date."""
    if graph is None:
        return

    async def write() -> None:
        try:
            await write_agent(graph, agent)
        except Exception:
            log.exception("agent %s not written to the graph; the periodic sync will", agent.id)

    after_commit(session, write)


async def sync_all(session: AsyncSession, graph: GraphStore) -> int:
    """Rebuild every agent in the graph from SQL (start-up, and `leadgen graph sync`)."""
    agents = await repository.listing(session)
    for agent in agents:
        await write_agent(graph, agent)
    return len(agents)
