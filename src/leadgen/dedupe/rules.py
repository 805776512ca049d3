"""Which identifiers make two leads the same person, as keyed hashes (never plain PII)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadgen.core.security import keyed_hash
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.leads.normalize import address_key, email_key


@dataclass(frozen=True)
class IdentityKeys:
    phone: str | None
    email: str | None
    address: str | None

    def present(self) -> list[tuple[str, str]]:
        return [(kind, value) for kind, value in vars(self).items() if value is not None]


def identity_keys(
    hash_key: str, phone: str | None, email: str | None, street: str | None, zip_code: str
) -> IdentityKeys:
    address = address_key(street, zip_code)
    return IdentityKeys(
        phone=keyed_hash(hash_key, "phone", phone) if phone else None,
        email=keyed_hash(hash_key, "email", email_key(email)) if email else None,
        address=keyed_hash(hash_key, "address", address) if address else None,
    )


def line_window_days(line: str, default_days: int, days_by_line: Mapping[Line, int]) -> int:
    """The look-back window of a line's duplicates: the line's own when it has one, else the default."""
    return days_by_line.get(Line(line), default_days)


def window_start(received_at: datetime, window_days: int) -> datetime:
    return received_at - timedelta(days=window_days)


# A phone or e-mail match within the window, for the same line, is the same request again.
# An address alone is a household link, not a duplicate (two adults can share one address).
DUPLICATE_KINDS = ("phone", "email")


def same_person(incoming: IdentityKeys, stored: IdentityKeys) -> bool:
    """Whether two leads name one person: a phone or an e-mail address in common (``DUPLICATE_KINDS``)."""
    return any(
        getattr(incoming, kind) is not None and getattr(incoming, kind) == getattr(stored, kind)
        for kind in DUPLICATE_KINDS
    )


# An earlier lead of the person makes a new one a duplicate only while somebody has the person or
# may still get them. Still in flight: the lead waits for the pipeline or a routing round, or is
# being offered; it counts whoever may get it.
IN_FLIGHT_STATUSES = (LeadStatus.RECEIVED, LeadStatus.SCORED, LeadStatus.ROUTED)
# Taken: an agent accepted it (whatever the agent recorded since; that agent is told the person
# asked again). It counts only while an active agent holds it (an ACCEPTED offer of an active
# agent): the duplicate goes to nobody else, and a deactivated agent is told nothing.
TAKEN_STATUSES = (LeadStatus.ACCEPTED, LeadStatus.CONTACTED, LeadStatus.QUOTED, LeadStatus.CONVERTED, LeadStatus.LOST)
# Never in any other status: screened out, nobody took it (UNASSIGNED) or its agent gave it back
# (RETURNED), as the new request would then reach nobody. Test leads and erased leads never count.


def why_not_original(status: LeadStatus, *, is_test: bool, erased: bool, held_by_active_agent: bool) -> str | None:
    """Why an earlier lead of the person no longer makes a new one a duplicate, or None while it does
    (the rule above): what a released duplicate's ``lead.released`` event says."""
    if erased:
        return "the original was erased"
    if is_test:
        return "the original is a test lead"
    if status in IN_FLIGHT_STATUSES:
        return None
    if status in TAKEN_STATUSES:
        return None if held_by_active_agent else "no active agent holds the original"
    return f"the original ended {status}"
