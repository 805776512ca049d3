"""Creating agents with their licences and shifts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import repository
from leadgen.agents.schemas import AgentCreate, AgentPublic
from leadgen.audit import repository as audit
from leadgen.core.errors import Conflict
from leadgen.models import Agent, Licence, Shift


async def create(session: AsyncSession, data: AgentCreate, actor: str) -> Agent:
    if await repository.by_email(session, str(data.email)):
        raise Conflict(f"an agent with e-mail {data.email} exists")
    agent = Agent(
        name=data.name,
        email=str(data.email).lower(),
        phone=data.phone,
        timezone=data.timezone,
        daily_cap=data.daily_cap,
        open_cap=data.open_cap,
        weight=data.weight,
        licences=[
            Licence(state=li.state, line=li.line.value, number=li.number, expires_on=li.expires_on)
            for li in data.licences
        ],
        shifts=[Shift(weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at) for s in data.shifts],
    )
    session.add(agent)
    await session.flush()
    await audit.record(session, actor, "agent.created", "agent", str(agent.id), {"licences": len(data.licences)})
    return agent


def public(agent: Agent) -> AgentPublic:
    return AgentPublic(
        id=agent.id,
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
