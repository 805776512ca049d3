"""A shift whose end equals its start lasts 24 hours: from its start on its weekday to the same time
the next day, as any shift whose end is not after its start runs on past midnight."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from leadgen.routing.rules import Candidate, ShiftWindow, on_shift

# Monday 1 June 2026, 00:00 in Chicago (UTC-5 in June).
MONDAY_MIDNIGHT = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)


def agent(*shifts: ShiftWindow) -> Candidate:
    return Candidate(
        agent_id=uuid.uuid4(),
        name="A",
        active=True,
        timezone="America/Chicago",
        licences=[],
        shifts=list(shifts),
        daily_cap=10,
        open_cap=10,
        assigned_today=0,
        open_leads=0,
        last_assigned_at=None,
    )


def minutes_on_shift(candidate: Candidate, since: datetime, until: datetime) -> int:
    minutes = int((until - since).total_seconds() // 60)
    return sum(on_shift(candidate, since + timedelta(minutes=n)) for n in range(minutes))


def test_midnight_to_midnight_is_the_whole_weekday() -> None:
    monday = agent(ShiftWindow(0, time(0), time(0)))
    assert minutes_on_shift(monday, MONDAY_MIDNIGHT, MONDAY_MIDNIGHT + timedelta(days=1)) == 24 * 60
    assert not on_shift(monday, MONDAY_MIDNIGHT - timedelta(microseconds=1))  # Sunday's last instant
    assert not on_shift(monday, MONDAY_MIDNIGHT + timedelta(days=1))  # Tuesday


def test_equal_times_run_24_hours_from_the_start() -> None:
    nine = MONDAY_MIDNIGHT + timedelta(hours=9)
    monday_nine_to_nine = agent(ShiftWindow(0, time(9), time(9)))
    assert minutes_on_shift(monday_nine_to_nine, MONDAY_MIDNIGHT, MONDAY_MIDNIGHT + timedelta(days=2)) == 24 * 60
    assert on_shift(monday_nine_to_nine, nine)
    assert on_shift(monday_nine_to_nine, nine + timedelta(days=1) - timedelta(microseconds=1))
    assert not on_shift(monday_nine_to_nine, nine - timedelta(microseconds=1))
    assert not on_shift(monday_nine_to_nine, nine + timedelta(days=1))


def test_a_week_of_whole_days_is_always_on_shift() -> None:
    always = agent(*(ShiftWindow(day, time(0), time(0)) for day in range(7)))
    assert all(on_shift(always, MONDAY_MIDNIGHT + timedelta(minutes=7 * n)) for n in range(7 * 24 * 60 // 7))
