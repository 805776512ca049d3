"""Which earlier lead of a person still makes a new one a duplicate, and why one no longer does."""

from __future__ import annotations

import pytest

from leadgen.dedupe.rules import why_not_original
from leadgen.leads.lifecycle import LeadStatus


@pytest.mark.parametrize("status", [LeadStatus.RECEIVED, LeadStatus.SCORED, LeadStatus.ROUTED])
def test_a_lead_in_flight_counts_whoever_may_get_it(status: LeadStatus) -> None:
    assert why_not_original(status, is_test=False, erased=False, held_by_active_agent=False) is None


@pytest.mark.parametrize(
    "status", [LeadStatus.ACCEPTED, LeadStatus.CONTACTED, LeadStatus.QUOTED, LeadStatus.CONVERTED, LeadStatus.LOST]
)
def test_a_taken_lead_counts_only_while_an_active_agent_holds_it(status: LeadStatus) -> None:
    assert why_not_original(status, is_test=False, erased=False, held_by_active_agent=True) is None
    assert (
        why_not_original(status, is_test=False, erased=False, held_by_active_agent=False)
        == "no active agent holds the original"
    )


@pytest.mark.parametrize(
    "status",
    [LeadStatus.INVALID, LeadStatus.DUPLICATE, LeadStatus.REJECTED, LeadStatus.UNASSIGNED, LeadStatus.RETURNED],
)
def test_a_lead_screened_out_left_or_given_back_never_counts(status: LeadStatus) -> None:
    reason = why_not_original(status, is_test=False, erased=False, held_by_active_agent=True)
    assert reason == f"the original ended {status.value}"


def test_an_erased_or_test_lead_never_counts() -> None:
    routed = LeadStatus.ROUTED
    assert why_not_original(routed, is_test=False, erased=True, held_by_active_agent=True) == "the original was erased"
    assert why_not_original(routed, is_test=True, erased=False, held_by_active_agent=True) == (
        "the original is a test lead"
    )
