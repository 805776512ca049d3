"""Which identifiers make two leads the same person, as keyed hashes (never plain PII)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, or_

from leadgen.core.security import keyed_hash
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.leads.normalize import address_key, email_key


@dataclass(frozen=True)
class IdentityKeys:
    phone: str | None
    email: str | None
    address: str | None
    # Beside the phone's hash, in the clear: without the number it names nobody. The number's hash
    # is the identity (the graph's, the do-not-contact list's); the extension only tells apart two
    # people at one switchboard (``phones_match``).
    phone_extension: str | None = None


def identity_keys(
    hash_key: str,
    phone: str | None,
    email: str | None,
    street: str | None,
    zip_code: str,
    phone_extension: str | None = None,
) -> IdentityKeys:
    address = address_key(street, zip_code)
    return IdentityKeys(
        phone=keyed_hash(hash_key, "phone", phone) if phone else None,
        email=keyed_hash(hash_key, "email", email_key(email)) if email else None,
        address=keyed_hash(hash_key, "address", address) if address else None,
        phone_extension=phone_extension if phone else None,
    )


def line_window_days(line: str, default_days: int, days_by_line: Mapping[Line, int]) -> int:
    """The look-back window of a line's duplicates: the line's own when it has one, else the default."""
    return days_by_line.get(Line(line), default_days)


def window_start(received_at: datetime, window_days: int) -> datetime:
    return received_at - timedelta(days=window_days)


# A phone or e-mail match within the window, for the same line, is the same request again, unless
# the phones' extensions tell the two apart (``phones_match``). An address alone is a household
# link, not a duplicate (two adults can share one address).
DUPLICATE_KINDS = ("phone", "email")


def phones_match(extension: str | None, other: str | None) -> bool:
    """Whether two leads giving one phone number may be one person, by the extensions they gave with
    it: not when both gave one and they differ (two people at one switchboard). A lead without one
    gave the main number, which reaches either: the same person as a lead with one, so that a person
    who gives their extension once and not the next time is still found (a colleague giving only
    the main number is taken for them too)."""
    return extension is None or other is None or extension == other


def phones_match_clause(
    extension: SQLColumnExpression[str | None], other: SQLColumnExpression[str | None]
) -> ColumnElement[bool]:
    """``phones_match`` in SQL, for a query that pairs leads in the database (dedupe's originals, the
    retention purge's people)."""
    return or_(extension.is_(None), other.is_(None), extension == other)


def same_person(incoming: IdentityKeys, stored: IdentityKeys) -> bool:
    """Whether two leads name one person (``DUPLICATE_KINDS``): an e-mail address in common, or a
    phone number whose extensions do not tell them apart."""
    if incoming.email is not None and incoming.email == stored.email:
        return True
    return (
        incoming.phone is not None
        and incoming.phone == stored.phone
        and phones_match(incoming.phone_extension, stored.phone_extension)
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
