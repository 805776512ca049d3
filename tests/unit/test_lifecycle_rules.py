"""The lead's status derived from its takers' own progress: pure rules, no database."""

from __future__ import annotations

import pytest

from leadgen.leads.lifecycle import (
    OPEN_LEAD_STATUSES,
    OUTCOMES,
    AssignmentStatus,
    LeadStatus,
    can_move,
    lead_status_of_takers,
    taker_progress,
)

ACCEPTED, CONTACTED, QUOTED = LeadStatus.ACCEPTED, LeadStatus.CONTACTED, LeadStatus.QUOTED
CONVERTED, LOST, RETURNED = LeadStatus.CONVERTED, LeadStatus.LOST, LeadStatus.RETURNED
# What one agent may do to their own progress: record an outcome, or return the lead.
AGENT_MOVES = (*OUTCOMES, RETURNED)


def test_a_takers_progress_is_their_offer_and_the_outcome_they_recorded() -> None:
    assert taker_progress(AssignmentStatus.ACCEPTED, None) == ACCEPTED
    assert taker_progress(AssignmentStatus.ACCEPTED, "QUOTED") == QUOTED
    assert taker_progress(AssignmentStatus.RETURNED, "CONTACTED") == RETURNED


@pytest.mark.parametrize(
    ("reached", "takers", "expected"),
    [
        # One taker (every exclusive lead): the lead's status is theirs.
        (ACCEPTED, [CONTACTED], CONTACTED),
        (QUOTED, [LOST], LOST),
        (CONTACTED, [RETURNED], RETURNED),
        # Shared: the furthest any taker reached while one still works it.
        (CONTACTED, [CONTACTED, ACCEPTED], CONTACTED),
        (CONTACTED, [QUOTED, CONTACTED], QUOTED),
        (QUOTED, [LOST, CONTACTED], QUOTED),  # the taker who quoted lost it; the other works on
        (CONTACTED, [RETURNED, ACCEPTED], CONTACTED),  # the taker who called returned it
        (QUOTED, [CONVERTED, LOST], CONVERTED),
        (QUOTED, [QUOTED, CONVERTED], CONVERTED),
        (QUOTED, [LOST, LOST], LOST),
        (CONTACTED, [RETURNED, LOST], LOST),  # kept by one taker: paid for, not credited
        (CONTACTED, [RETURNED, RETURNED], RETURNED),
    ],
)
def test_the_lead_status_of_its_takers(reached: LeadStatus, takers: list[LeadStatus], expected: LeadStatus) -> None:
    assert lead_status_of_takers(reached, takers) == expected


def test_a_lead_nobody_took_has_no_takers_status() -> None:
    with pytest.raises(ValueError, match="no takers"):
        lead_status_of_takers(ACCEPTED, [])


# Every taker's progress, and the lead's status.
State = tuple[tuple[LeadStatus, ...], LeadStatus]


def _every_step(takers: tuple[LeadStatus, ...], lead: LeadStatus) -> list[State]:
    """Every next state: one taker records an outcome or returns the lead (the lead derived), or,
    while the lead is open, one more agent accepts it (``routing.service.accept`` leaves the lead
    as it is unless it was ROUTED)."""
    steps = []
    for index, progress in enumerate(takers):
        for move in AGENT_MOVES:
            if can_move(progress, move):
                moved = (*takers[:index], move, *takers[index + 1 :])
                steps.append((moved, lead_status_of_takers(lead, moved)))
    if lead in OPEN_LEAD_STATUSES and len(takers) < 3:
        joined = (*takers, ACCEPTED)
        assert lead_status_of_takers(lead, joined) == lead  # the rule agrees with accepting
        steps.append((joined, lead))
    return steps


def test_every_change_of_a_shared_leads_status_is_one_the_lifecycle_allows() -> None:
    """From one taker to three, in every order: the lead's status moves only as ``ALLOWED_MOVES``
    says (never back), a lone taker's progress is the lead's, and a final status stays final."""
    start: State = ((ACCEPTED,), ACCEPTED)
    seen, todo = {start}, [start]
    while todo:
        takers, lead = todo.pop()
        if len(takers) == 1:
            assert lead == takers[0]
        for state in _every_step(takers, lead):
            after = state[1]
            assert after == lead or can_move(lead, after), (takers, lead, state)
            if lead in (CONVERTED, LOST, RETURNED):
                assert after == lead, (takers, lead, state)
            if state not in seen:
                seen.add(state)
                todo.append(state)
    assert {lead for _, lead in seen} == {ACCEPTED, CONTACTED, QUOTED, CONVERTED, LOST, RETURNED}


@pytest.mark.parametrize("finished", [LeadStatus.RETURNED, LeadStatus.LOST, LeadStatus.CONVERTED])
def test_a_finished_lead_stays_finished_whatever_an_offer_left_open_says(finished: LeadStatus) -> None:
    """A shared lead of the release before: one agent returned it, the other's offer stayed
    accepted; that agent's outcome must not reopen a lead the source already credited."""
    assert lead_status_of_takers(finished, [LeadStatus.ACCEPTED, LeadStatus.CONTACTED]) == finished
