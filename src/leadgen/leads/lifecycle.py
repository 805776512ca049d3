"""The lead lifecycle: statuses, the moves allowed between them, and the events they emit."""

from __future__ import annotations

import enum


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


def can_move(current: LeadStatus, new: LeadStatus) -> bool:
    return new in ALLOWED_MOVES.get(current, frozenset())


def next_outcomes(current: LeadStatus) -> list[LeadStatus]:
    """The outcomes an agent may record next for a lead in ``current``."""
    return [outcome for outcome in OUTCOMES if can_move(current, outcome)]
