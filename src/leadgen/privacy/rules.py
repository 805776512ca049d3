"""Whom the retention purge anonymises, and how long an anonymised lead's consent record keeps its
evidence, as pure functions (the queries that find them are in ``privacy.repository``, which asks
the same questions of the database).

A person, for the purge, is every lead dedupe takes for theirs (``dedupe.rules.same_person``): every
lead with their e-mail address, or with their phone number and an extension that does not tell them
apart (``phones_match``: a colleague at another extension of the switchboard is someone else; a lead
given with the main number may be anyone's there, and is waited for too). Their last activity is
the latest receipt or event (``lead_events``: every status change, offer, answer and outcome writes
one) of any of those leads. A lead an agent still holds counts by that too: one nobody recorded anything of for the
whole retention period (five years at least) is abandoned, and keeping its person for ever would
defeat the purge. Offers not yet answered time out within minutes, each with an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadgen.compliance.consent import is_known_consent_text
from leadgen.dedupe.rules import IdentityKeys

# A consent record is kept unchanged five years (the FTC's Telemarketing Sales Rule, and our brief):
# 1,827 days are five years however many leap days they hold. An erasure or the retention purge
# clears what ties a younger record to the person only once it is that old; its time and the
# SHA-256 of its text (which text was agreed to) stay for good, and the text itself when it names
# nobody (``consent_text_kept``).
CONSENT_KEPT = timedelta(days=1827)
# What ties a consent record to the person: where it was given, and the number and address it
# covers, by which an export finds it after the lead was erased. The text goes with them unless
# ``consent_text_kept``.
CONSENT_EVIDENCE = (
    "ip_address",
    "page_url",
    "trustedform_cert_url",
    "jornaya_leadid",
    "phone_hash",
    "email_hash",
    "phone_extension",
)


@dataclass(frozen=True)
class LeadActivity:
    """What the purge reads of one lead of the person."""

    received_at: datetime
    last_event_at: datetime | None

    @property
    def last_active_at(self) -> datetime:
        return max(self.received_at, self.last_event_at or self.received_at)


def named_by_request(asked: IdentityKeys, lead: IdentityKeys) -> bool:
    """Whether a person's request about their data (an export, an erasure) names the lead: it has the
    e-mail address given, or the phone number with the very extension given (none with none).

    Stricter than dedupe's ``same_person``, for which the main number reaches every extension: what
    an export hands out and an erasure destroys must be the person's beyond doubt, so a lead given
    with the main number, asked about with an extension, or the other way round, is left to staff
    among the linked leads, as a colleague's at another extension is."""
    if asked.email is not None and asked.email == lead.email:
        return True
    return asked.phone is not None and asked.phone == lead.phone and asked.phone_extension == lead.phone_extension


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """People whose last activity is before this are due."""
    return now - timedelta(days=retention_days)


def due(leads: Sequence[LeadActivity], cutoff: datetime) -> bool:
    """The person's leads are anonymised when every one was last active before ``cutoff``, whatever
    its status. No leads (erased since they were found) is nothing to do."""
    return bool(leads) and all(lead.last_active_at < cutoff for lead in leads)


def consent_text_kept(text_sha256: str) -> bool:
    """Whether a consent record keeps its text once its evidence goes: only when it is one of the
    quote form's own texts (named by its SHA-256), the same words for everybody. A vendor's text is
    theirs to word, and TCPA one-to-one consent often names the person and the number called
    ("I, Jane Roe, agree to be called at 512-555-0142 by ..."); its digest still says which text was
    agreed to. A form text retired since (``PREVIOUS_CONSENT_TEXTS`` keeps one a release) loses its
    words too: its digest names it in that module's history."""
    return is_known_consent_text(text_sha256)


def consent_evidence_kept_until(captured_at: datetime, now: datetime) -> datetime | None:
    """Until when an anonymised lead's consent record keeps its evidence; None: it is five years
    old, and the evidence goes now."""
    kept_until = captured_at + CONSENT_KEPT
    return kept_until if kept_until > now else None
