"""Routing policies per source and campaign (data-service, admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Response, status
from pydantic import ConfigDict, Field, field_validator
from sqlalchemy import select

from leadgen.audit import repository as audit
from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import SessionDep
from leadgen.core.errors import InvalidInput, NotFound
from leadgen.core.input import RequestBody
from leadgen.models import RoutingPolicy, Source
from leadgen.routing import repository
from leadgen.routing.strategies import Strategy

router = APIRouter(prefix="/api/v1/routing-policies", tags=["routing"])


class PolicyIn(RequestBody):
    model_config = ConfigDict(extra="forbid")
    source_id: uuid.UUID | None = Field(
        None, description="A source's `id` (`GET /api/v1/sources`); empty: every source."
    )
    campaign: str | None = Field(
        None,
        max_length=128,
        description="As leads name it (surrounding spaces left out); empty or blank: every campaign.",
    )
    strategy: Strategy = Strategy.ROUND_ROBIN
    max_agents: int = Field(1, ge=1, le=10, description="Agents a shared lead goes to (exclusive leads: 1).")
    sla_minutes: int | None = Field(None, ge=1, le=1440, description="Empty: LEADGEN_ROUTING_SLA_MINUTES.")
    max_attempts: int | None = Field(None, ge=1, le=20, description="Empty: LEADGEN_ROUTING_MAX_ATTEMPTS.")

    @field_validator("max_agents", "sla_minutes", "max_attempts", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: object) -> object:
        # JSON's true and false are no numbers, though Python counts them as 1 and 0.
        if isinstance(value, bool):
            raise ValueError("a whole number, not true or false")
        return value

    @field_validator("campaign")
    @classmethod
    def _blank_is_every_campaign(cls, value: str | None) -> str | None:
        # Stripped as intake strips a lead's campaign, or the policy would match none of its leads.
        return (value or "").strip() or None


class PolicyOut(PolicyIn):
    id: uuid.UUID


def _out(p: RoutingPolicy) -> PolicyOut:
    return PolicyOut(
        id=p.id,
        source_id=p.source_id,
        campaign=p.campaign,
        strategy=Strategy(p.strategy),
        max_agents=p.max_agents,
        sla_minutes=p.sla_minutes,
        max_attempts=p.max_attempts,
    )


@router.get("")
async def list_policies(_: StaffPrincipal, session: SessionDep) -> list[PolicyOut]:
    return [_out(p) for p in await session.scalars(select(RoutingPolicy).order_by(RoutingPolicy.created_at))]


@router.put("")
async def put_policy(body: Annotated[PolicyIn, Body()], principal: AdminPrincipal, session: SessionDep) -> PolicyOut:
    """Create or replace the policy for a source/campaign pair."""
    if body.source_id is not None and await session.get(Source, body.source_id) is None:
        reason = "no such source"
        raise InvalidInput(reason, [{"field": "source_id", "reason": reason}])
    found = await repository.policies_of_scope(session, body.source_id, body.campaign)
    policy = found[0] if found else RoutingPolicy(source_id=body.source_id, campaign=body.campaign)
    session.add(policy)
    for older in found[1:]:  # a copy two writes made at once before they were serialised
        await session.delete(older)
    policy.strategy, policy.max_agents = body.strategy.value, body.max_agents
    policy.sla_minutes, policy.max_attempts = body.sla_minutes, body.max_attempts
    await session.flush()
    await audit.record(
        session,
        principal.label(),
        "routing_policy.saved",
        "routing_policy",
        str(policy.id),
        body.model_dump(mode="json"),
    )
    return _out(policy)


@router.delete("/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_policy(policy_id: uuid.UUID, principal: AdminPrincipal, session: SessionDep) -> Response:
    """Remove a policy (one written for the wrong source or a mistyped campaign): its leads are
    routed by the next most specific policy, or the defaults. Audited with what it said."""
    policy = await repository.policy_for_removal(session, policy_id)
    if policy is None:
        raise NotFound(f"routing policy {policy_id} not found")
    removed = _out(policy).model_dump(mode="json", exclude={"id"})
    await session.delete(policy)
    await session.flush()
    await audit.record(session, principal.label(), "routing_policy.deleted", "routing_policy", str(policy_id), removed)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
