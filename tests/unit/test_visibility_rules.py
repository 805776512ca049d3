"""What an agent reads of a lead's history and routing decision (``leads.visibility``)."""

from __future__ import annotations

import uuid

from leadgen.leads.visibility import event_for_agent, explanation_for_agent

ME = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
EARLIER_LEAD = str(uuid.uuid4())


def test_a_duplicates_history_does_not_name_its_earlier_lead_nor_what_became_of_it() -> None:
    """The earlier lead is another agent's: its id and its end are theirs and staff's to read."""
    duplicate = event_for_agent("lead.duplicate", {"reason": f"same person as lead {EARLIER_LEAD}"}, ME)
    released = event_for_agent("lead.released", {"original": EARLIER_LEAD, "reason": "the original ended RETURNED"}, ME)
    for shown in (duplicate, released):
        assert shown is not None and EARLIER_LEAD not in str(shown) and "RETURNED" not in str(shown)
    assert duplicate == {"reason": "the same person as an earlier lead"}


def test_other_agents_events_are_left_out_and_staff_notes_dropped() -> None:
    assert event_for_agent("assignment.rejected", {"agent_id": OTHER, "reason": "busy"}, ME) is None
    assert event_for_agent("assignment.rejected", {"agent_id": ME, "reason": "busy"}, ME) == {
        "agent_id": ME,
        "reason": "busy",
    }
    assert event_for_agent("lead.reopened", {"by": "admin@agency.test", "note": "new agents"}, ME) == {}


def test_the_explanation_shows_the_agents_own_ranking_and_the_signals_best_match_went_without() -> None:
    stored = {
        "strategy": "best_match",
        "eligible": 2,
        "considered": 3,
        "ranking": {ME: {"score": 0.7}, OTHER: {"score": 0.9}},
        "excluded": {str(uuid.uuid4()): "no licence"},
        "unavailable": ["similar_success"],
    }
    assert explanation_for_agent(stored, ME) == {
        "strategy": "best_match",
        "eligible": 2,
        "considered": 3,
        "ranking": {ME: {"score": 0.7}},
        "unavailable": ["similar_success"],
    }
