"""What each reader of a lead may see of it: its source, an agent it was offered to, or staff.

Staff see everything. A source sees how its lead fared, not who worked it. An agent sees their own
offer and the lead's own history, not the other agents': their names, their ranking and load, why
they were excluded, what they said when declining, or what staff noted. What the lead's details say
(the person's health, driving record, property, and the notes they wrote) reaches an agent only with
the contact details, once they accept it.
"""

from __future__ import annotations

from typing import Any

from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus

# The audit action of an inbox answer that showed the person's contact details (the brief: access
# to personal data is audited): one entry per answer, subject the agent, naming the leads shown.
CONTACT_DETAILS_VIEWED = "inbox.contact_details_viewed"

# An agent keeps access to a lead while the offer is open and once they have taken it, including
# after returning it (a return can be disputed). A declined, timed-out or withdrawn offer was never
# theirs to work, so the lead is no longer theirs to read.
AGENT_READS_WITH = (AssignmentStatus.PENDING, AssignmentStatus.ACCEPTED, AssignmentStatus.RETURNED)

# An agent learns what the lead's details say with its contact details (the inbox shows those once
# the offer is accepted); before, the score's reasons drawn from the details are one factor.
AGENT_SEES_DETAILS_WITH = (AssignmentStatus.ACCEPTED,)
DETAILS_FACTOR = "the lead's details (itemised for the agent working the lead)"

# What the notes reader drew from the notes and may show before then (``insights.schemas.Insight``):
# its labels and who answered. Its ``evidence`` and ``reason`` quote the notes, or with an LLM are
# free text about them; a field added later stays hidden until it is listed here.
INSIGHT_FIELDS_BEFORE_DETAILS = ("intent", "urgency", "provider", "model", "fallback_reason")
NOTES_REASON = "read from the lead's notes (quoted for the agent working the lead)"

# Fields of a lead's own events that only staff read: who of the staff acted, and what they noted.
STAFF_ONLY_FIELDS = frozenset({"by", "note"})
# Events that name the agents of another lead.
STAFF_ONLY_EVENTS = frozenset({"lead.passed_to_owner"})

SOURCE_DUPLICATE_REASON = "the same person as an earlier lead"
# Events of a duplicate that name its earlier lead, or say what became of it (another agent's work,
# which that lead's readers alone see): an agent later offered the duplicate reads these instead.
AGENT_READS_INSTEAD = {
    "lead.duplicate": {"reason": SOURCE_DUPLICATE_REASON},
    "lead.released": {"reason": "the earlier lead of the same person no longer holds this one back"},
}


def event_for_agent(name: str, data: dict[str, Any], agent_id: str) -> dict[str, Any] | None:
    """The event as the agent may see it, or None: another agent's events are left out, the
    agent's own are shown whole."""
    if name in STAFF_ONLY_EVENTS:
        return None
    if name in AGENT_READS_INSTEAD:
        return AGENT_READS_INSTEAD[name]
    if "agent_id" in data:
        return data if data["agent_id"] == agent_id else None
    return {key: value for key, value in data.items() if key not in STAFF_ONLY_FIELDS}


def explanation_for_agent(explanation: dict[str, Any], agent_id: str) -> dict[str, Any]:
    """The routing decision of the agent's own offer: the strategy, how many were eligible and
    considered, the agent's own numbers, not the others' or why they were excluded, and the signals
    best match went without (its numbers read 0 for them, as for everyone's)."""
    shown: dict[str, Any] = {
        key: explanation[key]
        for key in ("strategy", "chosen", "eligible", "considered", "unavailable")
        if key in explanation
    }
    ranking = explanation.get("ranking") or {}
    if agent_id in ranking:
        shown["ranking"] = {agent_id: ranking[agent_id]}
    return shown


def reason_for_source(status: str, reason: str | None) -> str | None:
    """Why the lead ended where it did, as its source may read it: a duplicate does not name the
    earlier lead, which may be another source's."""
    if status == LeadStatus.DUPLICATE:
        return SOURCE_DUPLICATE_REASON
    return reason


def score_factors_for_agent(score_factors: dict[str, Any] | None, offer_status: str | None) -> dict[str, Any] | None:
    """The score's reasons as the agent whose offer is in ``offer_status`` may read them: until
    they may know the lead's details, the factors drawn from them (``from_details``) are one factor
    of their points together, which names none of them, so that the points still add up."""
    if not score_factors or offer_status in AGENT_SEES_DETAILS_WITH:
        return score_factors
    factors = score_factors.get("factors") or []
    # A factor stored before they were marked may be drawn from the details too.
    hidden = [f for f in factors if f.get("from_details", True)]
    if not hidden:
        return score_factors
    together = {"factor": DETAILS_FACTOR, "points": round(sum(f["points"] for f in hidden), 1), "from_details": True}
    shown = [f for f in factors if not f.get("from_details", True)] + [together]
    return {**score_factors, "factors": sorted(shown, key=lambda f: -abs(f["points"]))}


def insights_for_agent(insights: dict[str, Any] | None, offer_status: str | None) -> dict[str, Any] | None:
    """What the notes reader found, as the agent whose offer is in ``offer_status`` may read it:
    until they may know the lead's details, the intent and urgency without the words of the notes
    that decided them (no ``evidence``, one ``reason`` that quotes nothing), in the same shape."""
    if not insights or offer_status in AGENT_SEES_DETAILS_WITH:
        return insights
    shown = {key: insights[key] for key in INSIGHT_FIELDS_BEFORE_DETAILS if key in insights}
    # An erased person's lead keeps only its labels (``privacy.service``): nothing to stand in for.
    if "reason" in insights:
        shown["reason"] = NOTES_REASON
    if "evidence" in insights:
        shown["evidence"] = []
    return shown
