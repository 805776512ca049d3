"""Whom the retention purge anonymises: every lead of the person last active before the cutoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadgen.privacy.rules import LeadActivity, due, retention_cutoff

NOW = datetime(2032, 6, 1, 12, tzinfo=UTC)
CUTOFF = retention_cutoff(NOW, 1828)
LONG_AGO = CUTOFF - timedelta(days=30)


def ended(received_at: datetime = LONG_AGO, last_event_at: datetime | None = LONG_AGO) -> LeadActivity:
    return LeadActivity(received_at, last_event_at)


def test_the_cutoff_is_the_retention_before_now() -> None:
    assert retention_cutoff(NOW, 1828) == datetime(2027, 5, 31, 12, tzinfo=UTC)  # 2028 is a leap year


def test_a_person_whose_leads_all_ended_before_the_cutoff_is_due() -> None:
    assert due([ended(), ended(last_event_at=None), ended(received_at=LONG_AGO - timedelta(days=900))], CUTOFF)


def test_nobody_left_to_anonymise_is_not_due() -> None:
    assert not due([], CUTOFF)


@pytest.mark.parametrize(
    "recent",
    [
        ended(last_event_at=CUTOFF),  # an outcome, a return, a status change at the cutoff itself
        ended(last_event_at=NOW),
        ended(received_at=CUTOFF + timedelta(seconds=1), last_event_at=None),  # asked again lately
    ],
)
def test_any_lead_of_the_person_active_since_the_cutoff_keeps_them_all(recent: LeadActivity) -> None:
    assert not due([ended(), recent], CUTOFF)
