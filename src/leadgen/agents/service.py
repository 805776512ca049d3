"""Creating and changing agents with their licences and shifts."""

from __future__ import annotations

import uuid
from collections.abc import Container
from datetime import date, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import repository
from leadgen.agents.schemas import AgentCreate, AgentPublic, AgentUpdate, LicenceIn, ShiftIn
from leadgen.audit import repository as audit
from leadgen.core.errors import Conflict, NotFound, PreconditionFailed
from leadgen.models import Agent, Licence, Shift
from leadgen.models.base import utcnow
from leadgen.routing import service as routing_service

# Fields whose old and new values the audit entry records; for the others (the agent's name and
# contact details) it records only that they changed, as no audit entry holds personal data.
_AUDITED_VALUES = ("timezone", "daily_cap", "open_cap", "weight", "active")
_PERSONAL = ("name", "phone")
# Said without the address, as every refusal is: an answer names the field, never the value sent.
_EMAIL_TAKEN = "another agent has this e-mail address"


async def create(session: AsyncSession, data: AgentCreate, actor: str) -> Agent:
    if await repository.by_email(session, str(data.email)):
        raise Conflict(_EMAIL_TAKEN, [{"field": "email", "reason": _EMAIL_TAKEN}])
    agent = Agent(
        name=data.name,
        email=str(data.email).lower(),
        phone=data.phone,
        timezone=data.timezone,
        daily_cap=data.daily_cap,
        open_cap=data.open_cap,
        weight=data.weight,
        licences=_licences(data.licences),
        shifts=_shifts(data.shifts),
    )
    session.add(agent)
    await session.flush()
    await audit.record(session, actor, "agent.created", "agent", str(agent.id), {"licences": len(data.licences)})
    return agent


async def update(
    session: AsyncSession,
    agent_id: uuid.UUID,
    data: AgentUpdate,
    actor: str,
    revisions_seen: Container[int] | None = None,
) -> Agent:
    """Apply the fields sent, as a change of the agent's revision when something changed.
    Deactivating queues the withdrawal of the agent's offers not yet answered, and changing their
    licences that of those whose lead they are no longer licensed for, each lead then moving on to
    its next routing round, for once this transaction has committed
    (``routing.service.queue_offer_withdrawal``); leads the agent accepted stay.

    ``revisions_seen``: the revisions the sender made its change on (the API's If-Match); nothing
    changes when the agent's is not among them, as someone changed the agent since."""
    agent = await repository.get(session, agent_id, lock=True)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    if revisions_seen is not None and agent.revision not in revisions_seen:
        raise PreconditionFailed(
            f"agent {agent_id} was changed meanwhile: it is at revision {agent.revision}; read it again"
        )
    sent = data.model_fields_set
    changed: list[str] = []
    record: dict[str, Any] = {}
    if "email" in sent and str(data.email).lower() != agent.email:
        email = str(data.email).lower()
        if await repository.by_email(session, email):
            raise Conflict(_EMAIL_TAKEN, [{"field": "email", "reason": _EMAIL_TAKEN}])
        agent.email = email
        changed.append("email")
    for name in (*_PERSONAL, *_AUDITED_VALUES):
        new = getattr(data, name)
        if name in sent and new != getattr(agent, name):
            if name in _AUDITED_VALUES:
                record[name] = [getattr(agent, name), new]
            setattr(agent, name, new)
            changed.append(name)
    if data.licences is not None and _licence_facts(data.licences) != _licence_facts(agent.licences):
        await _replace(session, agent.licences, _licences(data.licences))
        record["licences"] = len(data.licences)
        changed.append("licences")
    if data.shifts is not None and _shift_facts(data.shifts) != _shift_facts(agent.shifts):
        await _replace(session, agent.shifts, _shifts(data.shifts))
        changed.append("shifts")
    if ("active" in changed and not agent.active) or "licences" in changed:
        routing_service.queue_offer_withdrawal(session, agent.id, utcnow())
    if changed:
        agent.revision += 1
        await audit.record(session, actor, "agent.updated", "agent", str(agent.id), {"changed": changed, **record})
    return agent


async def _replace(session: AsyncSession, current: list[Any], new: list[Any]) -> None:
    """Replace a collection's rows. The old rows are deleted first: the unit of work would insert
    the new ones before deleting, and a licence kept for the same state and line would then break
    the one-licence-per-state-and-line constraint."""
    current.clear()
    await session.flush()
    current.extend(new)


def _licences(licences: list[LicenceIn]) -> list[Licence]:
    return [Licence(state=li.state, line=li.line.value, number=li.number, expires_on=li.expires_on) for li in licences]


def _shifts(shifts: list[ShiftIn]) -> list[Shift]:
    return [Shift(weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at) for s in shifts]


def _licence_facts(licences: list[LicenceIn] | list[Licence]) -> set[tuple[str, str, str | None, date]]:
    return {(li.state, str(li.line), li.number, li.expires_on) for li in licences}


def _shift_facts(shifts: list[ShiftIn] | list[Shift]) -> set[tuple[int, time, time]]:
    return {(s.weekday, s.starts_at, s.ends_at) for s in shifts}


def public(agent: Agent) -> AgentPublic:
    return AgentPublic(
        id=agent.id,
        revision=agent.revision,
        active=agent.active,
        name=agent.name,
        email=agent.email,
        phone=agent.phone,
        timezone=agent.timezone,
        daily_cap=agent.daily_cap,
        open_cap=agent.open_cap,
        weight=agent.weight,
        licences=[
            {"state": li.state, "line": li.line, "number": li.number, "expires_on": li.expires_on}
            for li in agent.licences
        ],
        shifts=[{"weekday": s.weekday, "starts_at": s.starts_at, "ends_at": s.ends_at} for s in agent.shifts],
    )
