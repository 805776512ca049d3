"""Eligibility and ordering of agents: pure functions of plain data."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

from leadgen.routing.rules import Candidate, LeadFacts, LicenceFact, ShiftWindow, eligible, on_shift
from leadgen.routing.strategies import MatchSignals, Strategy, conversion_rate, line_fit, order

# A Monday, 15:00 UTC = 10:00 in Chicago.
NOW = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
LEAD = LeadFacts(uuid.uuid4(), "TX", "auto")


def candidate(**overrides: object) -> Candidate:
    values: dict[str, object] = {
        "agent_id": uuid.uuid4(),
        "name": "A",
        "active": True,
        "timezone": "America/Chicago",
        "licences": [LicenceFact("TX", "auto", date(2030, 1, 1))],
        "shifts": [ShiftWindow(0, time(9), time(17))],
        "daily_cap": 10,
        "open_cap": 10,
        "assigned_today": 0,
        "open_leads": 0,
        "last_assigned_at": None,
    }
    values.update(overrides)
    return Candidate(**values)  # type: ignore[arg-type]


def test_every_hard_filter_names_its_reason() -> None:
    cases = {
        "inactive": candidate(active=False),
        "no valid auto licence in TX": candidate(licences=[LicenceFact("TX", "auto", date(2026, 5, 31))]),
        "off shift": candidate(shifts=[ShiftWindow(0, time(11), time(17))]),
        "daily cap reached": candidate(assigned_today=10),
        "open-lead cap reached": candidate(open_leads=10),
        "already offered this lead": candidate(already_offered=True),
    }
    assert eligible(list(cases.values()), LEAD, NOW) == []
    for reason, c in cases.items():
        assert c.rejections == [reason]


def test_licence_valid_through_its_expiry_day() -> None:
    assert eligible([candidate(licences=[LicenceFact("TX", "auto", date(2026, 6, 1))])], LEAD, NOW)


def test_overnight_shift_covers_after_midnight() -> None:
    night = candidate(shifts=[ShiftWindow(6, time(22), time(6))])  # Sunday 22:00 to Monday 06:00
    assert on_shift(night, datetime(2026, 6, 1, 9, 0, tzinfo=UTC))  # Monday 04:00 in Chicago
    assert not on_shift(night, datetime(2026, 6, 1, 12, 0, tzinfo=UTC))  # Monday 07:00
    assert on_shift(night, datetime(2026, 6, 1, 3, 30, tzinfo=UTC))  # Sunday 22:30
    assert not on_shift(night, datetime(2026, 5, 31, 9, 0, tzinfo=UTC))  # Sunday 04:00, before it starts


def test_round_robin_is_least_recent_first_with_id_tie_break() -> None:
    a = candidate(agent_id=uuid.UUID(int=2), last_assigned_at=datetime(2026, 6, 1, 14, tzinfo=UTC))
    b = candidate(agent_id=uuid.UUID(int=3), last_assigned_at=None)
    c = candidate(agent_id=uuid.UUID(int=1), last_assigned_at=None)
    ranked, _ = order(Strategy.ROUND_ROBIN, [a, b, c])
    assert [x.agent_id.int for x in ranked] == [1, 3, 2]


def test_weighted_gives_heavier_agents_more_leads() -> None:
    heavy = candidate(agent_id=uuid.UUID(int=1), weight=3, assigned_today=2)
    light = candidate(agent_id=uuid.UUID(int=2), weight=1, assigned_today=1)
    ranked, why = order(Strategy.WEIGHTED, [light, heavy])
    assert ranked[0] is heavy  # 3/3 = 1.0 per weight beats 2/1
    assert why[str(heavy.agent_id)]["load_per_weight"] == 1.0


def test_best_match_combines_signals_and_explains_them() -> None:
    veteran = candidate(agent_id=uuid.UUID(int=1))
    rookie = candidate(agent_id=uuid.UUID(int=2))
    signals = {
        str(veteran.agent_id): MatchSignals(line_fit=0.5, conversion_rate=0.4, similar_success=0.8),
        str(rookie.agent_id): MatchSignals(line_fit=1.0, conversion_rate=0.1, similar_success=0.0),
    }
    ranked, why = order(Strategy.BEST_MATCH, [rookie, veteran], signals)
    assert ranked == [veteran, rookie]
    assert set(why[str(veteran.agent_id)]) == {
        "line_fit",
        "conversion_rate",
        "similar_success",
        "spare_capacity",
        "total",
    }


def test_conversion_rate_is_smoothed_and_line_fit_favours_specialists() -> None:
    assert conversion_rate(1, 1) < 0.2
    assert conversion_rate(30, 100) > 0.25
    assert line_fit(["auto"], "auto") == 1.0
    assert line_fit(["auto", "home", "life"], "auto") == 1 / 3
    assert line_fit(["home"], "auto") == 0.0
