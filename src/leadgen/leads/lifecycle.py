"""The lead lifecycle: statuses, the moves allowed between them, and the events they emit."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta


class LeadStatus(enum.StrEnum):
    RECEIVED = "RECEIVED"
    INVALID = "INVALID"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"
    SCORED = "SCORED"
    # A vendor's test lead past screening: scored like a live one, then offered to nobody and
    # nobody messaged. A status of its own: SCORED awaits a routing round, and UNASSIGNED alerts
    # admins and is reopened by staff.
    TEST = "TEST"
    ROUTED = "ROUTED"
    UNASSIGNED = "UNASSIGNED"
    ACCEPTED = "ACCEPTED"
    CONTACTED = "CONTACTED"
    QUOTED = "QUOTED"
    CONVERTED = "CONVERTED"
    LOST = "LOST"
    RETURNED = "RETURNED"


class AssignmentStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    RETURNED = "RETURNED"
    WITHDRAWN = "WITHDRAWN"  # the person opted out before the agent answered


class Line(enum.StrEnum):
    AUTO = "auto"
    HOME = "home"
    LIFE = "life"
    HEALTH = "health"
    COMMERCIAL = "commercial"


OPEN_ASSIGNMENT = frozenset({AssignmentStatus.PENDING, AssignmentStatus.ACCEPTED})
# A lead in one of these is still being worked: it counts toward its agent's open-lead cap.
OPEN_LEAD_STATUSES = (LeadStatus.ROUTED, LeadStatus.ACCEPTED, LeadStatus.CONTACTED, LeadStatus.QUOTED)

ALLOWED_MOVES: dict[LeadStatus, frozenset[LeadStatus]] = {
    LeadStatus.RECEIVED: frozenset({LeadStatus.INVALID, LeadStatus.DUPLICATE, LeadStatus.REJECTED, LeadStatus.SCORED}),
    # A duplicate whose original no longer counts as one (screened out, left UNASSIGNED, returned,
    # erased, or no active agent holds it) is released: it goes through the pipeline again from the
    # start (``pipeline.service.release_duplicate``, outbox ``lead.received``).
    LeadStatus.DUPLICATE: frozenset({LeadStatus.RECEIVED}),
    LeadStatus.SCORED: frozenset({LeadStatus.ROUTED, LeadStatus.UNASSIGNED, LeadStatus.TEST}),
    LeadStatus.ROUTED: frozenset({LeadStatus.ROUTED, LeadStatus.ACCEPTED, LeadStatus.UNASSIGNED}),
    # Staff reopen an UNASSIGNED lead: scored again awaiting a routing round (``routing.service.reopen``).
    LeadStatus.UNASSIGNED: frozenset({LeadStatus.SCORED}),
    LeadStatus.ACCEPTED: frozenset({LeadStatus.CONTACTED, LeadStatus.LOST, LeadStatus.RETURNED, LeadStatus.ROUTED}),
    LeadStatus.CONTACTED: frozenset({LeadStatus.QUOTED, LeadStatus.LOST, LeadStatus.RETURNED}),
    LeadStatus.QUOTED: frozenset({LeadStatus.CONVERTED, LeadStatus.LOST}),
}


# What an agent records about an accepted lead, and why an agent may return one.
OUTCOMES = (LeadStatus.CONTACTED, LeadStatus.QUOTED, LeadStatus.CONVERTED, LeadStatus.LOST)
RETURN_REASONS = ("wrong_number", "duplicate", "not_interested_never_requested", "out_of_area", "fraud", "other")
# Returns that say the contact details do not reach a person who asked: nobody is told about the
# lead at them any more, even while another agent of a shared lead still holds it.
CONTACT_DISPUTED = ("wrong_number", "not_interested_never_requested", "fraud")


def can_move(current: LeadStatus, new: LeadStatus) -> bool:
    return new in ALLOWED_MOVES.get(current, frozenset())


def next_outcomes(current: LeadStatus) -> list[LeadStatus]:
    """The outcomes an agent may record next for a lead in ``current``."""
    return [outcome for outcome in OUTCOMES if can_move(current, outcome)]


# How far one taker (an agent who accepted the lead) got with it, in order.
PROGRESS = (LeadStatus.ACCEPTED, LeadStatus.CONTACTED, LeadStatus.QUOTED, LeadStatus.CONVERTED)


def taker_progress(offer: str, outcome: str | None) -> LeadStatus:
    """Where one agent who accepted a lead stands with it: RETURNED once they gave it back, else
    the last outcome they recorded on their offer (ACCEPTED before any). ``can_move`` from it says
    what that agent may record next. Takes the stored values (an ``AssignmentStatus`` and an
    outcome, or the strings an API gives)."""
    if offer == AssignmentStatus.RETURNED:
        return LeadStatus.RETURNED
    return LeadStatus(outcome) if outcome else LeadStatus.ACCEPTED


FINISHED_BY_TAKERS = frozenset({LeadStatus.RETURNED, LeadStatus.LOST, LeadStatus.CONVERTED})


def lead_status_of_takers(reached: LeadStatus, takers: Sequence[LeadStatus]) -> LeadStatus:
    """The lead's status from its takers' progress (``taker_progress`` of each accepted offer).

    Args:
        reached: the lead's status before the change; while someone still works the lead it keeps
            how far takers who have since lost or returned it had got (their offers no longer say).
        takers: the progress of every agent who accepted the lead, at least one.

    Returns, in this order:
    - RETURNED when every taker returned it (the source credits it);
    - CONVERTED when any taker converted it;
    - LOST when every taker who kept it lost it (a mix of returned and lost is LOST: someone kept
      the lead, so the agency pays for it);
    - else the furthest progress any taker reached (``reached`` included) while one still works it.

    Invariants: an exclusive lead has one taker, so its status is that taker's progress, as it was
    before each taker had their own. A shared lead's status never moves back while a taker
    still works it (a taker who lost or returned it leaves ``reached`` where it was), and each agent
    moves one step at a time, so every change of the lead's status is one ``ALLOWED_MOVES`` lists:
    forward one step, to LOST from ACCEPTED, CONTACTED or QUOTED, to CONVERTED from QUOTED only (its
    taker was QUOTED), and to RETURNED from ACCEPTED or CONTACTED only (a taker who reached QUOTED may
    not return it, so it is kept). RETURNED, LOST and CONVERTED are final: no taker is left working.
    """
    if not takers:
        raise ValueError("a lead nobody accepted has no takers to derive its status from")
    if reached in FINISHED_BY_TAKERS:
        # Said once, kept: a lead credited back to its source, or finished, is not reopened by
        # an offer of an older release's shared lead that was never closed.
        return reached
    kept = [progress for progress in takers if progress != LeadStatus.RETURNED]
    if not kept:
        return LeadStatus.RETURNED
    if LeadStatus.CONVERTED in kept:
        return LeadStatus.CONVERTED
    working = [progress for progress in kept if progress != LeadStatus.LOST]
    if not working:
        return LeadStatus.LOST
    floor = [reached] if reached in PROGRESS else []
    return max([*working, *floor], key=PROGRESS.index)


def may_return(offer: str, outcome: str | None) -> bool:
    """Whether the agent of an offer may return its lead, the return window aside: they accepted it
    and recorded no more than a contact since (one who quoted, converted or lost it keeps it). Takes
    the stored values, or the strings an API gives, as ``taker_progress`` does."""
    return offer == AssignmentStatus.ACCEPTED and can_move(taker_progress(offer, outcome), LeadStatus.RETURNED)


def return_by(accepted_at: datetime, window_hours: int) -> datetime:
    """Until when the agent who accepted an offer at ``accepted_at`` may return its lead to its source."""
    return accepted_at + timedelta(hours=window_hours)
