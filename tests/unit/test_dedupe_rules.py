"""Which earlier lead of a person still makes a new one a duplicate, why one no longer does, and
the look-back window of each line."""

from __future__ import annotations

import pytest

from leadgen.dedupe.rules import line_window_days, why_not_original
from leadgen.leads.lifecycle import LeadStatus, Line


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


def test_a_line_given_a_window_of_its_own_has_it_and_any_other_line_the_default() -> None:
    own = {Line.AUTO: 30, Line.LIFE: 90}
    assert line_window_days("life", 14, own) == 90
    assert line_window_days(Line.AUTO, 14, own) == 30
    assert line_window_days("home", 14, own) == 14
    assert line_window_days("life", 14, {}) == 14
