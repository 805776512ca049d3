"""The routing policy that applies to a lead, with the platform defaults filled in."""

from __future__ import annotations

from dataclasses import dataclass

from leadgen.routing.strategies import Strategy


@dataclass(frozen=True)
class Policy:
    strategy: Strategy
    max_agents: int
    sla_minutes: int
    max_attempts: int


def specificity(policy_source: object | None, policy_campaign: str | None) -> int:
    """Source and campaign (3) beat source (2) beat campaign (1) beat the default (0)."""
    return (2 if policy_source is not None else 0) + (1 if policy_campaign is not None else 0)
