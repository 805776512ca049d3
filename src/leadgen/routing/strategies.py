"""Ordering eligible agents: round robin, weighted, best match. Pure and deterministic.

Every strategy returns the candidates in offer order with a per-agent breakdown, so the
decision stored with each assignment says why that agent came first.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from leadgen.routing.rules import Candidate

_NEVER = datetime.min.replace(tzinfo=UTC)


class Strategy(enum.StrEnum):
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    BEST_MATCH = "best_match"


@dataclass(frozen=True)
class MatchSignals:
    """What best match knows about an agent beyond the hard filters, each in [0, 1]."""

    line_fit: float = 0.0
    conversion_rate: float = 0.0
    similar_success: float = 0.0


# Best-match weights: conversion history and similar-lead success dominate; load keeps work spread.
BEST_MATCH_WEIGHTS = {"line_fit": 0.15, "conversion_rate": 0.35, "similar_success": 0.3, "spare_capacity": 0.2}


def _recency_key(c: Candidate) -> tuple[datetime, str]:
    return (c.last_assigned_at or _NEVER, str(c.agent_id))


def _spare_capacity(c: Candidate) -> float:
    daily = 1 - c.assigned_today / c.daily_cap if c.daily_cap else 0.0
    open_ = 1 - c.open_leads / c.open_cap if c.open_cap else 0.0
    return max(0.0, min(daily, open_))


def order(
    strategy: Strategy, candidates: list[Candidate], signals: dict[str, MatchSignals] | None = None
) -> tuple[list[Candidate], dict[str, dict[str, float]]]:
    """Candidates in offer order and, per agent id, the numbers that placed it there."""
    if strategy is Strategy.ROUND_ROBIN:
        ranked = sorted(candidates, key=_recency_key)
        return ranked, {str(c.agent_id): {"rank": i + 1} for i, c in enumerate(ranked)}
    if strategy is Strategy.WEIGHTED:
        # Fewest leads today per unit of weight first: an agent of weight 2 gets twice the leads.
        def load(c: Candidate) -> float:
            return (c.assigned_today + 1) / max(c.weight, 1)

        ranked = sorted(candidates, key=lambda c: (load(c), *_recency_key(c)))
        return ranked, {str(c.agent_id): {"weight": c.weight, "load_per_weight": round(load(c), 4)} for c in ranked}
    breakdown: dict[str, dict[str, float]] = {}
    for c in candidates:
        s = (signals or {}).get(str(c.agent_id), MatchSignals())
        parts = {
            "line_fit": s.line_fit,
            "conversion_rate": s.conversion_rate,
            "similar_success": s.similar_success,
            "spare_capacity": _spare_capacity(c),
        }
        total = sum(BEST_MATCH_WEIGHTS[k] * v for k, v in parts.items())
        breakdown[str(c.agent_id)] = {**{k: round(v, 4) for k, v in parts.items()}, "total": round(total, 4)}
    ranked = sorted(candidates, key=lambda c: (-breakdown[str(c.agent_id)]["total"], *_recency_key(c)))
    return ranked, breakdown


def conversion_rate(converted: int, accepted: int, prior_rate: float = 0.1, prior_weight: int = 10) -> float:
    """Smoothed towards ``prior_rate`` so a new agent with one lucky sale is not ranked first."""
    return (converted + prior_rate * prior_weight) / (accepted + prior_weight)


def line_fit(licensed_lines: list[str], line: str) -> float:
    """1.0 for a specialist in the line, smaller for agents spread across many lines."""
    if line not in licensed_lines:
        return 0.0
    return 1.0 / len(set(licensed_lines))
