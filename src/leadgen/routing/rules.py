"""Who may receive a lead (hard filters), and in which order (strategies)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from leadgen.leads.geography import timezones_for_state


@dataclass(frozen=True)
class ShiftWindow:
    weekday: int
    starts_at: time
    ends_at: time


@dataclass(frozen=True)
class LicenceFact:
    state: str
    line: str
    expires_on: date


@dataclass
class Candidate:
    """What routing knows about one agent at the moment of the decision."""

    agent_id: uuid.UUID
    name: str
    active: bool
    timezone: str
    licences: list[LicenceFact]
    shifts: list[ShiftWindow]
    daily_cap: int
    open_cap: int
    assigned_today: int
    open_leads: int
    last_assigned_at: datetime | None
    weight: int = 1
    already_offered: bool = False
    rejections: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LeadFacts:
    lead_id: uuid.UUID
    state: str
    line: str


def licence_day(state: str, now: datetime) -> date:
    """The date a licence of ``state`` is judged on: the state's own, as a licence lapses when its
    expiry day ends in the state that issued it, whatever the agent's clock says. Where the state
    spans two time zones, the later date: the day has ended in part of the state already."""
    return max(now.astimezone(ZoneInfo(zone)).date() for zone in timezones_for_state(state))


def licence_holds(expires_on: date | None, state: str, now: datetime) -> bool:
    """Whether a licence of ``state`` expiring on ``expires_on`` (None: no licence) holds at ``now``."""
    return expires_on is not None and expires_on >= licence_day(state, now)


def licensed(candidate: Candidate, lead: LeadFacts, now: datetime) -> bool:
    return any(
        lic.state == lead.state and lic.line == lead.line and licence_holds(lic.expires_on, lead.state, now)
        for lic in candidate.licences
    )


def on_shift(candidate: Candidate, now: datetime) -> bool:
    """Whether ``now`` falls in one of the agent's shifts, on the agent's own clock. A shift starts
    on its weekday; one whose end is not after its start runs on past midnight into the next day
    (22:00-06:00), so equal times make a 24-hour shift (00:00-00:00: the whole weekday)."""
    local = now.astimezone(ZoneInfo(candidate.timezone))
    for shift in candidate.shifts:
        if shift.weekday != local.weekday():
            continue
        if shift.starts_at < shift.ends_at:
            if shift.starts_at <= local.time() < shift.ends_at:
                return True
        elif local.time() >= shift.starts_at:
            # An overnight shift belongs to the weekday it starts on; its hours after midnight are
            # the next day's, below.
            return True
    return any(
        s.starts_at >= s.ends_at and (s.weekday + 1) % 7 == local.weekday() and local.time() < s.ends_at
        for s in candidate.shifts
    )


def hard_filter(candidate: Candidate, lead: LeadFacts, now: datetime) -> list[str]:
    """Every reason this agent may not receive this lead; empty means eligible."""
    reasons = []
    if not candidate.active:
        reasons.append("inactive")
    if not licensed(candidate, lead, now):
        reasons.append(f"no valid {lead.line} licence in {lead.state}")
    if not on_shift(candidate, now):
        reasons.append("off shift")
    if candidate.assigned_today >= candidate.daily_cap:
        reasons.append("daily cap reached")
    if candidate.open_leads >= candidate.open_cap:
        reasons.append("open-lead cap reached")
    if candidate.already_offered:
        reasons.append("already offered this lead")
    return reasons


def eligible(candidates: list[Candidate], lead: LeadFacts, now: datetime) -> list[Candidate]:
    out = []
    for candidate in candidates:
        candidate.rejections = hard_filter(candidate, lead, now)
        if not candidate.rejections:
            out.append(candidate)
    return out


# Why an agent who passed the hard filters as first read was passed over: another transaction held
# the agent's row (most likely another lead's routing offering them that lead), and others were free.
HELD_ELSEWHERE = "held by another lead's routing or an admin's change at the moment"


def explanation(
    chosen: Candidate,
    considered: list[Candidate],
    strategy: str,
    breakdown: dict[str, dict[str, float]],
    held: Collection[uuid.UUID] = (),
) -> dict[str, object]:
    """Why this agent: the strategy's numbers for the agents it was chosen among (``breakdown``), and
    why each other agent considered was left out: the hard filters as last read (under the agent's
    lock, for an agent locked), or another transaction holding the agent (``held``)."""
    excluded = {
        str(c.agent_id): c.rejections or [HELD_ELSEWHERE] for c in considered if c.rejections or c.agent_id in held
    }
    return {
        "strategy": strategy,
        "chosen": str(chosen.agent_id),
        "eligible": len(considered) - len(excluded),
        "considered": len(considered),
        "ranking": breakdown,
        "excluded": excluded,
    }
