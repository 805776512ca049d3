"""What the performance and returns reports count and how their rates and costs follow, as pure rules."""

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
# Not paid for: not screened yet, screened out, or returned to the source (credited). A shared lead
# is RETURNED only once every agent who took it returned it: one kept by an agent is paid for.
NOT_BILLED = (LeadStatus.RECEIVED, *SCREENED_OUT, LeadStatus.RETURNED)
DEFAULT_PERIOD = timedelta(days=30)
LONGEST_PERIOD = timedelta(days=366)
CLOCK_CHANGE = timedelta(hours=1)
EARLIEST_YEAR = 2000  # long before any lead; it keeps date arithmetic away from year 1
LATEST_YEAR = 9998  # long after any lead; it keeps a time west of UTC from overflowing year 9999


def period(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The leads received from ``since`` up to ``until`` (the last 30 days when not given)."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            reason = f"a report covers leads received from {EARLIEST_YEAR} to {LATEST_YEAR}"
            raise InvalidInput(reason, [_problem(name, reason)])
    end = until or now
    start = since or end - DEFAULT_PERIOD
    if start >= end:
        reason = "the period must start before it ends"
        raise InvalidInput(reason, [_problem("since", reason)])
    if not _at_most_the_longest(start, end):
        reason = "a report covers at most 366 days"
        raise InvalidInput(reason, [_problem("since", reason)])
    return start, end


def _at_most_the_longest(start: datetime, end: datetime) -> bool:
    """Whether the period is at most ``LONGEST_PERIOD``: of elapsed time, or of days on each end's
    own clock when a clock change between them adds its hour (the dashboard's midnights from a
    summer-time start to a winter-time end are 366 days and one hour apart)."""
    elapsed = end - start
    if elapsed <= LONGEST_PERIOD:
        return True
    on_the_clocks = end.replace(tzinfo=None) - start.replace(tzinfo=None)
    return elapsed <= LONGEST_PERIOD + CLOCK_CHANGE and on_the_clocks <= LONGEST_PERIOD


def _problem(parameter: str, reason: str) -> dict[str, str]:
    return {"field": f"query.{parameter}", "reason": reason}  # named as FastAPI names query errors


@dataclass(frozen=True)
class Performance:
    """One group's leads received in the period and what became of them.

    Grouped by source, campaign or line, ``leads`` counts every lead received, ``billed`` those the
    agency pays its source for (past screening and not returned) at the price each was bought at
    (its source's price when it was received, not the price now), and the time to first contact
    runs from the lead's arrival. Grouped by agent (``agent_id``), ``leads`` counts the agent's
    offers, the counts after that are the agent's own (what it accepted, and the contacts and
    conversions it recorded), ``billed`` the leads it kept, at its share of their price (a shared
    lead's price split between the agents who kept it: one who returned it pays nothing, the others
    the whole price; the cents that do not divide evenly go one each to the agents offered it first,
    so the shares add up to the price), and the time to first contact runs from its acceptance;
    ``screened_out``, ``unassigned`` and ``opted_out`` (leads whose person revoked consent, a sign of
    how a source got it; not those barred by an imported list) do not apply. Grouped by campaign,
    the key of the leads sent without one is None (no campaign's name can be mistaken for it)."""

    key: str | None
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
    opted_out: int | None = None
    agent_id: str | None = None

    def as_row(self) -> dict[str, object]:
        return {
            "key": self.key,
            "agent_id": self.agent_id,
            "leads": self.leads,
            "screened_out": self.screened_out,
            "unassigned": self.unassigned,
            "opted_out": self.opted_out,
            "opt_out_rate": _ratio(self.opted_out, self.leads) if self.opted_out is not None else None,
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


@dataclass(frozen=True)
class SourceReturns:
    """One source's returns among its leads received in the period.

    A source credits a lead, not an offer: a shared lead is RETURNED, and credited, only once every
    agent who took it returned it (``lifecycle.lead_status_of_takers``), so the rate is of leads, as
    the performance report's by source. The offers show how often agents gave a lead back, credited
    or not; the top reason is the one given most often on them (of those given as often, the first
    in alphabetical order)."""

    source: str
    leads_accepted: int
    leads_credited: int
    offers_accepted: int
    offers_returned: int
    top_reason: str | None

    @property
    def return_rate(self) -> float | None:
        return _ratio(self.leads_credited, self.leads_accepted)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _per(cents: int, count: int) -> int | None:
    return round(cents / count) if count else None
