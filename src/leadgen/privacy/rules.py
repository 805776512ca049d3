"""Whom the retention purge anonymises, and how long an anonymised lead's consent record keeps its
evidence, as pure functions (the queries that find them are in ``privacy.repository``, which asks
the same questions of the database).

A person is whom an erasure by one of their leads' phone and e-mail would anonymise: every lead
with that phone number or e-mail address. Their last activity is the latest receipt or event
(``lead_events``: every status change, offer, answer and outcome writes one) of any of those
leads; a lead still in the pipeline or worked by an agent, or an offer still open, is activity
until it ends, however long ago it began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadgen.leads.lifecycle import OPEN_LEAD_STATUSES, LeadStatus

# A consent record is kept unchanged five years (the FTC's Telemarketing Sales Rule, and our brief):
# 1,827 days are five years however many leap days they hold. An erasure or the retention purge
# clears what ties a younger record to the person only once it is that old; the consent text and
# its time stay for good.
CONSENT_KEPT = timedelta(days=1827)
CONSENT_EVIDENCE = ("ip_address", "page_url", "trustedform_cert_url", "jornaya_leadid")

# Not yet through the pipeline, or being offered and worked. The others are where leads end: a
# DUPLICATE waits only on its original, an UNASSIGNED lead on staff offering it again.
OPEN_STATUSES = frozenset({LeadStatus.RECEIVED, LeadStatus.SCORED, *OPEN_LEAD_STATUSES})


@dataclass(frozen=True)
class LeadActivity:
    """What the purge reads of one lead of the person."""

    status: LeadStatus
    received_at: datetime
    last_event_at: datetime | None
    offer_open: bool  # an offer pending, or accepted and not closed by a conversion or a loss

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES or self.offer_open

    @property
    def last_active_at(self) -> datetime:
        return max(self.received_at, self.last_event_at or self.received_at)


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """People whose last activity is before this are due."""
    return now - timedelta(days=retention_days)


def due(leads: Sequence[LeadActivity], cutoff: datetime) -> bool:
    """The person's leads are anonymised when none is open and every one was last active before
    ``cutoff``. No leads (erased since they were found) is nothing to do."""
    return bool(leads) and not any(lead.open or lead.last_active_at >= cutoff for lead in leads)


def consent_evidence_kept_until(captured_at: datetime, now: datetime) -> datetime | None:
    """Until when an anonymised lead's consent record keeps its evidence; None: it is five years
    old, and the evidence goes now."""
    kept_until = captured_at + CONSENT_KEPT
    return kept_until if kept_until > now else None
