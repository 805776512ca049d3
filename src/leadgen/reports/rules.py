"""What the performance report counts and how its rates and costs follow, as pure rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Literal, get_args

from leadgen.core.errors import InvalidInput
from leadgen.leads.lifecycle import LeadStatus

Grouping = Literal["source", "campaign", "line", "agent"]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)
# Leads stopped by screening: never offered, never paid for.
SCREENED_OUT = (LeadStatus.INVALID, LeadStatus.DUPLICATE, LeadStatus.REJECTED)
DEFAULT_PERIOD = timedelta(days=30)
LONGEST_PERIOD = timedelta(days=366)
NO_CAMPAIGN = "(none)"


def period(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The leads received from ``since`` up to ``until`` (the last 30 days when not given)."""
    end = until or now
    start = since or end - DEFAULT_PERIOD
    if start >= end:
        raise InvalidInput("since must be before until", [{"field": "since", "reason": "must be before until"}])
    if end - start > LONGEST_PERIOD:
        reason = "a report covers at most 366 days"
        raise InvalidInput(reason, [{"field": "since", "reason": reason}])
    return start, end


@dataclass(frozen=True)
class Performance:
    """One group's leads received in the period and what became of them.

    Grouped by source, campaign or line, ``leads`` counts every lead received; grouped by agent, the
    leads offered to the agent, and the counts after that are the agent's own (``screened_out``
    and ``unassigned`` do not apply). ``billed`` leads are those the agency pays its source for: past
    screening and not returned, each at its source's cost per lead."""

    key: str
    leads: int
    accepted: int
    contacted: int
    converted: int
    returned: int
    sla_breaches: int
    billed: int
    spend_cents: int
    minutes_to_contact: tuple[float, ...] = ()
    screened_out: int | None = None
    unassigned: int | None = None

    def as_row(self) -> dict[str, object]:
        return {
            "key": self.key,
            "leads": self.leads,
            "screened_out": self.screened_out,
            "unassigned": self.unassigned,
            "accepted": self.accepted,
            "contacted": self.contacted,
            "converted": self.converted,
            "returned": self.returned,
            "sla_breaches": self.sla_breaches,
            "contact_rate": _ratio(self.contacted, self.accepted),
            "conversion_rate": _ratio(self.converted, self.accepted),
            "return_rate": _ratio(self.returned, self.accepted),
            "median_minutes_to_first_contact": round(median(self.minutes_to_contact), 1)
            if self.minutes_to_contact
            else None,
            "billed": self.billed,
            "spend_cents": self.spend_cents,
            "cost_per_lead_cents": _per(self.spend_cents, self.billed),
            "cost_per_conversion_cents": _per(self.spend_cents, self.converted),
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _per(cents: int, count: int) -> int | None:
    return round(cents / count) if count else None
