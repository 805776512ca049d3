"""Agent management (data-service)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, status

from leadgen.agents import repository, service
from leadgen.agents.graph_sync import write_agent_after_commit
from leadgen.agents.schemas import AgentCreate, AgentPublic, AgentUpdate
from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import ResourcesDep, SessionDep
from leadgen.core.errors import NotFound

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.get("")
async def list_agents(_: StaffPrincipal, session: SessionDep) -> list[AgentPublic]:
    """Every agent with licences and shifts."""
    return [service.public(a) for a in await repository.listing(session)]


@router.get("/{agent_id}", responses={404: {"description": "No such agent"}})
async def get_agent(agent_id: uuid.UUID, _: StaffPrincipal, session: SessionDep) -> AgentPublic:
    agent = await repository.get(session, agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return service.public(agent)


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"description": "E-mail in use"}})
async def create_agent(
    data: Annotated[AgentCreate, Body()], principal: AdminPrincipal, session: SessionDep, resources: ResourcesDep
) -> AgentPublic:
    """Add an agent with licences (state x line, expiry) and weekly shifts."""
    agent = await service.create(session, data, principal.label())
    loaded = await repository.get(session, agent.id)
    assert loaded is not None
    write_agent_after_commit(session, resources.graph, loaded)
    return service.public(loaded)


@router.patch(
    "/{agent_id}",
    responses={
        404: {"description": "No such agent"},
        409: {"description": "E-mail in use"},
        422: {"description": "A field failed validation; nothing changed"},
    },
)
async def update_agent(
    agent_id: uuid.UUID,
    data: Annotated[AgentUpdate, Body()],
    principal: AdminPrincipal,
    session: SessionDep,
    resources: ResourcesDep,
) -> AgentPublic:
    """Change an agent: only the fields sent change; `licences` and `shifts` replace the whole list.

    `active: false` stops new offers at once and withdraws the agent's offers not yet answered
    soon after (a worker, through the outbox), sending each lead on to its next routing round;
    leads the agent already accepted stay with them. `active: true` makes the agent routable again.
    """
    agent = await service.update(session, agent_id, data, principal.label())
    write_agent_after_commit(session, resources.graph, agent)
    return service.public(agent)
