"""The graph store interface: agents and what they may sell, leads and the identities they share.

The model, the same in Neo4j and in the embedded store::

    (:Agent {id, name, active})-[:LICENSED_FOR {expires_on}]->(:Market {key: "CA|auto", state, line})
    (:Market)-[:IN_STATE]->(:State {code})        (:Market)-[:OF_LINE]->(:Line {name})
    (:Agent)-[:COVERS]->(:Territory {name})       (:Agent)-[:APPOINTED_WITH]->(:Carrier {name})
    (:Lead {id, line, state, received_at})-[:HAS]->(:Identity {key: "phone|<hash>", kind, hash})

A licence is an edge to a *market* (one state x one line) rather than two edges to a State and a
Line: the eligibility question "who may sell auto in CA on this day" is then one indexed lookup
and one edge property, and an expiry belongs to exactly one state and line. State and Line nodes
still exist for the questions that start from them ("every agent selling life").

Identities are keyed hashes (``leadgen.dedupe.rules.identity_keys``), never plain PII. Leads sharing a
phone or e-mail identity are duplicate candidates (two people at one switchboard share a phone:
``leads.repository.earliest_original`` tells them apart by extension); leads sharing an address
identity are a household.
Everything in the graph can be rebuilt from the relational database (agents, licences, leads'
hashes), which stays the system of record: ``leadgen graph rebuild``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple, Protocol, runtime_checkable

IDENTITY_KINDS = ("phone", "email", "address")
DUPLICATE_KINDS = ("phone", "email")

Id = uuid.UUID | str


class LicenceGrant(NamedTuple):
    """One licence: a plain ``(state, line, expires_on)`` tuple works as well."""

    state: str
    line: str
    expires_on: date


class IdentityKey(NamedTuple):
    """One identity of a lead: a plain ``(kind, hash)`` tuple works as well."""

    kind: str
    hash: str


@dataclass(frozen=True)
class GraphAgent:
    """What the graph knows of one agent (licences sorted by state, line)."""

    id: str
    name: str
    active: bool
    licences: list[LicenceGrant] = field(default_factory=list)
    territories: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)


@runtime_checkable
class GraphStore(Protocol):
    """Agents, licences and lead identity links; every method is async and idempotent."""

    async def ensure_schema(self) -> None:
        """Create constraints and indexes (or tables) if missing; call once at start-up."""

    async def upsert_agent(
        self,
        agent_id: Id,
        name: str,
        active: bool,
        licences: Sequence[tuple[str, str, date]],
        territories: Sequence[str] = (),
        carriers: Sequence[str] = (),
    ) -> None:
        """Create or replace the agent: its licences, territories and carriers become exactly these."""

    async def get_agent(self, agent_id: Id) -> GraphAgent | None:
        """The agent as stored, or None."""

    async def remove_agent(self, agent_id: Id) -> None:
        """Remove the agent and its edges (no-op when absent)."""

    async def candidates(self, state: str, line: str, on: date) -> list[str]:
        """Ids of active agents licensed for ``state`` x ``line`` with a licence not expired on ``on``
        (``expires_on >= on``), sorted."""

    async def link_lead(
        self,
        lead_id: Id,
        line: str,
        state: str,
        identities: Sequence[tuple[str, str]],
        *,
        received_at: datetime | None = None,
    ) -> None:
        """Create or update the lead; its identity links become exactly ``identities``
        (kinds: phone, email, address). Identities nobody references any more are removed."""

    async def duplicates_of(
        self,
        lead_id: Id,
        kinds: Sequence[str] = DUPLICATE_KINDS,
        line: str | None = None,
        *,
        since: datetime | None = None,
    ) -> list[str]:
        """Other leads sharing an identity of ``kinds`` with the lead; only of ``line`` when given,
        only received at or after ``since`` when given. Oldest first (received_at, then id); leads
        without received_at come last."""

    async def household_of(self, lead_id: Id) -> list[str]:
        """Other leads sharing an address identity with the lead, in the same order."""

    async def forget_lead(self, lead_id: Id) -> None:
        """Privacy erasure: remove the lead, its identity links, and identities left unreferenced."""

    async def ping(self) -> None:
        """Raise if the store does not answer, or its schema is not set up (readiness)."""

    async def close(self) -> None:
        """Release connections."""


def key(value: Id) -> str:
    """Ids are stored as strings (UUIDs in their canonical form)."""
    return str(value)


def market_key(state: str, line: str) -> str:
    return f"{state.upper()}|{line.lower()}"


def licences_of(licences: Sequence[tuple[str, str, date]]) -> list[LicenceGrant]:
    """Validated licences, normalised (state upper-case, line lower-case); the latest expiry wins
    when one market appears twice."""
    latest: dict[tuple[str, str], date] = {}
    for state, line, expires_on in licences:
        if not isinstance(expires_on, date) or isinstance(expires_on, datetime):
            raise TypeError(f"expires_on must be a date, got {expires_on!r}")
        market = (state.strip().upper(), line.strip().lower())
        if not market[0] or not market[1]:
            raise ValueError("a licence needs a state and a line")
        if market not in latest or latest[market] < expires_on:
            latest[market] = expires_on
    return [LicenceGrant(state, line, expires) for (state, line), expires in sorted(latest.items())]


def identities_of(identities: Sequence[tuple[str, str]]) -> list[IdentityKey]:
    """Validated, de-duplicated identities."""
    result: dict[tuple[str, str], IdentityKey] = {}
    for kind, value in identities:
        if kind not in IDENTITY_KINDS:
            raise ValueError(f"identity kind must be one of {IDENTITY_KINDS}, got {kind!r}")
        if not value:
            raise ValueError(f"empty {kind} identity")
        result[(kind, value)] = IdentityKey(kind, value)
    return list(result.values())


def kinds_of(kinds: Sequence[str]) -> list[str]:
    unknown = [kind for kind in kinds if kind not in IDENTITY_KINDS]
    if unknown:
        raise ValueError(f"identity kinds must be among {IDENTITY_KINDS}, got {unknown}")
    return list(dict.fromkeys(kinds))


def identity_key(kind: str, value: str) -> str:
    return f"{kind}|{value}"


def names_of(values: Sequence[str]) -> list[str]:
    return sorted({value.strip() for value in values if value.strip()})


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC datetimes (naive ones are taken as UTC), so every comparison is like for like."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
