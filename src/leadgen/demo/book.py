"""A demo book of business: agents licensed across states and lines, with shifts and caps.

Loading it twice changes nothing. Alaska is deliberately uncovered, so a lead from there shows
the UNASSIGNED path.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import repository as agents
from leadgen.agents.schemas import AgentCreate, LicenceIn, ShiftIn
from leadgen.agents.service import create as create_agent
from leadgen.auth import repository as auth_repo
from leadgen.auth.roles import Role
from leadgen.auth.service import create_user
from leadgen.leads.lifecycle import Line
from leadgen.models import Source

DEMO_PASSWORD = "demo-password-123"  # noqa: S105 (documented demo-only credential)
ADMIN_EMAIL = "admin@demo.leadgen.dev"
ACTOR = "demo-loader"
WEEKDAYS = range(5)
ALL_DAY = (time(0, 0), time(23, 59, 59, 999999))

_AGENTS: list[dict[str, Any]] = [
    {
        "name": "Maria Gonzalez",
        "tz": "America/Chicago",
        "states": ["TX", "OK", "LA"],
        "lines": [Line.AUTO, Line.HOME],
        "hours": (time(8), time(18)),
        "days": WEEKDAYS,
    },
    {
        "name": "James Carter",
        "tz": "America/New_York",
        "states": ["FL", "GA"],
        "lines": [Line.AUTO, Line.HOME, Line.LIFE],
        "hours": (time(9), time(19)),
        "days": WEEKDAYS,
    },
    {
        "name": "Aisha Patel",
        "tz": "America/Los_Angeles",
        "states": ["CA", "NV", "AZ"],
        "lines": [Line.HEALTH, Line.LIFE],
        "hours": (time(7), time(16)),
        "days": WEEKDAYS,
    },
    {
        "name": "Robert Chen",
        "tz": "America/New_York",
        "states": ["NY", "NJ", "PA"],
        "lines": [Line.COMMERCIAL, Line.AUTO],
        "hours": (time(8, 30), time(17, 30)),
        "days": WEEKDAYS,
    },
    {
        "name": "Linda Okafor",
        "tz": "America/Chicago",
        "states": ["IL", "WI", "IN", "MI"],
        "lines": [Line.HOME, Line.AUTO, Line.LIFE],
        "hours": (time(10), time(20)),
        "days": range(1, 7),
    },
    # The around-the-clock desk: so the demo routes at any hour, as agencies with a call centre do.
    {
        "name": "Night Desk (Sam Rivera)",
        "tz": "America/Denver",
        "states": ["TX", "FL", "CA", "NY", "IL", "OH", "GA", "AZ", "CO"],
        "lines": list(Line),
        "hours": ALL_DAY,
        "days": range(7),
    },
    {
        "name": "Weekend Desk (Kim Nguyen)",
        "tz": "America/New_York",
        "states": ["TX", "FL", "CA", "NY", "OH", "NC"],
        "lines": [Line.AUTO, Line.HOME, Line.HEALTH],
        "hours": ALL_DAY,
        "days": range(7),
    },
    {
        "name": "Derek Holm (licence expired)",
        "tz": "America/Denver",
        "states": ["CO", "UT"],
        "lines": [Line.AUTO],
        "hours": ALL_DAY,
        "days": range(7),
        "expired": True,
    },
]


def _email(name: str) -> str:
    first = name.split(" (")[0].split()[0].lower() if "(" not in name else name.split("(")[1].split()[0].lower()
    return f"{first}@demo.leadgen.dev"


# The agent the README and ``leadgen up``'s banner name as one to sign in as.
EXAMPLE_AGENT_EMAIL = _email(_AGENTS[0]["name"])


async def load(session: AsyncSession) -> dict[str, Any]:
    made_agents = made_licences = made_users = 0
    for spec in _AGENTS:
        email = _email(spec["name"])
        if await agents.by_email(session, email):
            continue
        expires = date(2020, 12, 31) if spec.get("expired") else date(2030, 12, 31)
        start, end = spec["hours"]
        data = AgentCreate(
            name=spec["name"],
            email=email,
            timezone=spec["tz"],
            daily_cap=40,
            open_cap=60,
            licences=[
                LicenceIn(state=s, line=line, number=f"DEMO-{s}-{i}", expires_on=expires)
                for i, (s, line) in enumerate((s, li) for s in spec["states"] for li in spec["lines"])
            ],
            shifts=[ShiftIn(weekday=d, starts_at=start, ends_at=end) for d in spec["days"]],
        )
        agent = await create_agent(session, data, ACTOR)
        made_agents += 1
        made_licences += len(data.licences)
        await create_user(session, email, DEMO_PASSWORD, Role.AGENT, agent.id, ACTOR)
        made_users += 1
    if await auth_repo.user_by_email(session, ADMIN_EMAIL) is None:
        await create_user(session, ADMIN_EMAIL, DEMO_PASSWORD, Role.ADMIN, None, ACTOR)
        made_users += 1
    sources = []
    for name, kind in (("acme-leads", "vendor"), ("web-form", "web")):
        if await auth_repo.source_by_name(session, name) is None:
            session.add(Source(name=name, kind=kind, cost_per_lead_cents=1500 if kind == "vendor" else 0))
        sources.append(name)
    return {
        "agents": made_agents,
        "licences": made_licences,
        "users": made_users,
        "admin": ADMIN_EMAIL,
        "password": DEMO_PASSWORD,
        "sources": sources,
    }
