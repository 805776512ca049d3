"""Whom the retention purge anonymises: every lead of the person ended and last active before the cutoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadgen.leads.lifecycle import LeadStatus
from leadgen.privacy.rules import OPEN_STATUSES, LeadActivity, due, retention_cutoff

NOW = datetime(2032, 6, 1, 12, tzinfo=UTC)
CUTOFF = retention_cutoff(NOW, 1828)
LONG_AGO = CUTOFF - timedelta(days=30)


def ended(
    status: LeadStatus = LeadStatus.LOST, received_at: datetime = LONG_AGO, last_event_at: datetime | None = LONG_AGO
) -> LeadActivity:
    return LeadActivity(status, received_at, last_event_at, offer_open=False)


def test_the_cutoff_is_the_retention_before_now() -> None:
    assert retention_cutoff(NOW, 1828) == datetime(2027, 5, 31, 12, tzinfo=UTC)  # 2028 is a leap year


def test_a_person_whose_leads_all_ended_before_the_cutoff_is_due() -> None:
    assert due([ended(), ended(LeadStatus.UNASSIGNED, last_event_at=None), ended(LeadStatus.CONVERTED)], CUTOFF)


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


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES))
def test_a_lead_in_the_pipeline_or_being_worked_keeps_the_person_however_old(status: LeadStatus) -> None:
    assert not due([ended(), ended(status)], CUTOFF)


def test_an_offer_still_open_keeps_the_person_whatever_the_leads_status() -> None:
    # A shared lead CONVERTED by one agent while another still works it.
    still_worked = LeadActivity(LeadStatus.CONVERTED, LONG_AGO, LONG_AGO, offer_open=True)
    assert not due([still_worked], CUTOFF)


def test_open_means_not_yet_screened_or_being_offered_and_worked() -> None:
    assert {status.value for status in OPEN_STATUSES} == {
        "RECEIVED", "SCORED", "ROUTED", "ACCEPTED", "CONTACTED", "QUOTED"
    }  # fmt: skip
