"""Agent management (data-service)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Response, status

from leadgen.agents import repository, service
from leadgen.agents.graph_sync import write_agent_after_commit
from leadgen.agents.schemas import AgentCreate, AgentPublic, AgentUpdate
from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import ResourcesDep, SessionDep
from leadgen.core.errors import NotFound
from leadgen.core.http import if_match_revisions, revision_tag

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.get("")
async def list_agents(_: StaffPrincipal, session: SessionDep) -> list[AgentPublic]:
    """Every agent with licences and shifts."""
    return [service.public(a) for a in await repository.listing(session)]


@router.get("/{agent_id}", responses={404: {"description": "No such agent"}})
async def get_agent(agent_id: uuid.UUID, _: StaffPrincipal, session: SessionDep, response: Response) -> AgentPublic:
    """The agent; its `ETag` is its revision, for a change's `If-Match`."""
    agent = await repository.get(session, agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    response.headers["ETag"] = revision_tag(agent.revision)
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
        412: {"description": "The agent changed since the revision named by If-Match; nothing changed"},
        422: {"description": "A field failed validation; nothing changed"},
    },
)
async def update_agent(
    agent_id: uuid.UUID,
    data: Annotated[AgentUpdate, Body()],
    principal: AdminPrincipal,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: Annotated[str | None, Header(description="The agent's ETag as the change was made on it")] = None,
) -> AgentPublic:
    """Change an agent: only the fields sent change; `licences` and `shifts` replace the whole list.

    Sent with `If-Match: "<revision>"` (the agent's `ETag`, or its `revision`), the change is made
    only on that revision: if someone changed the agent since, nothing changes and the answer is
    412. A change that changed something counts as the agent's next revision.

    `active: false` stops new offers at once and withdraws the agent's offers not yet answered
    soon after (a worker, through the outbox), sending each lead on to its next routing round;
    leads the agent already accepted stay with them. `active: true` makes the agent routable again.
    """
    agent = await service.update(session, agent_id, data, principal.label(), if_match_revisions(if_match))
    write_agent_after_commit(session, resources.graph, agent)
    response.headers["ETag"] = revision_tag(agent.revision)
    return service.public(agent)
