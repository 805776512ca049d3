"""Whom the retention purge anonymises, and how long an anonymised lead's consent record keeps its
evidence, as pure functions (the queries that find them are in ``privacy.repository``, which asks
the same questions of the database).

A person is whom an erasure by one of their leads' phone and e-mail would anonymise: every lead
with that phone number or e-mail address. Their last activity is the latest receipt or event
(``lead_events``: every status change, offer, answer and outcome writes one) of any of those
leads. A lead an agent still holds counts by that too: one nobody recorded anything of for the
whole retention period (five years at least) is abandoned, and keeping its person for ever would
defeat the purge. Offers not yet answered time out within minutes, each with an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# A consent record is kept unchanged five years (the FTC's Telemarketing Sales Rule, and our brief):
# 1,827 days are five years however many leap days they hold. An erasure or the retention purge
# clears what ties a younger record to the person only once it is that old; the consent text and
# its time stay for good.
CONSENT_KEPT = timedelta(days=1827)
CONSENT_EVIDENCE = ("ip_address", "page_url", "trustedform_cert_url", "jornaya_leadid")


@dataclass(frozen=True)
class LeadActivity:
    """What the purge reads of one lead of the person."""

    received_at: datetime
    last_event_at: datetime | None

    @property
    def last_active_at(self) -> datetime:
        return max(self.received_at, self.last_event_at or self.received_at)


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """People whose last activity is before this are due."""
    return now - timedelta(days=retention_days)


def due(leads: Sequence[LeadActivity], cutoff: datetime) -> bool:
    """The person's leads are anonymised when every one was last active before ``cutoff``, whatever
    its status. No leads (erased since they were found) is nothing to do."""
    return bool(leads) and all(lead.last_active_at < cutoff for lead in leads)


def consent_evidence_kept_until(captured_at: datetime, now: datetime) -> datetime | None:
    """Until when an anonymised lead's consent record keeps its evidence; None: it is five years
    old, and the evidence goes now."""
    kept_until = captured_at + CONSENT_KEPT
    return kept_until if kept_until > now else None
