"""Consent and contact rules (TCPA-style), as pure functions."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from leadgen.leads.geography import timezone_for_state

# Outbound contact to a lead is allowed from 8 am to 9 pm in the lead's local time.
CONTACT_WINDOW = (time(8, 0), time(21, 0))
# Why nobody may contact a person at all (``repository.contact_barred``), as stored and in words.
ERASED, DO_NOT_CONTACT = "erased", "do-not-contact"
BARRED_BECAUSE = {ERASED: "the person's data was erased", DO_NOT_CONTACT: "the person is on the do-not-contact list"}
CONSENT_MAX_AGE = timedelta(days=30)
CONSENT_CLOCK_SKEW = timedelta(minutes=5)


def typed_text_kept(anonymised_at: datetime | None, text: str | None) -> str | None:
    """What agents and staff type about a lead is kept, unless the person was erased: it may
    describe them (``privacy.service`` erases what was typed before)."""
    return None if anonymised_at is not None else text


def consent_problem(origin: str, has_consent: bool, captured_at: datetime | None, now: datetime) -> str | None:
    """Why a lead's consent is not acceptable, or None when it is."""
    if origin == "web" and not has_consent:
        return "web-form leads must include the consent record the person agreed to"
    if captured_at is not None:
        if captured_at > now + CONSENT_CLOCK_SKEW:
            return "consent.captured_at is in the future"
        if now - captured_at > CONSENT_MAX_AGE:
            return "consent is older than 30 days"
    return None


def in_contact_window(state: str, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(timezone_for_state(state))).time()
    start, end = CONTACT_WINDOW
    return start <= local < end


def next_contact_time(state: str, now: datetime) -> datetime:
    """The earliest moment at or after ``now`` inside the lead's contact window."""
    zone = ZoneInfo(timezone_for_state(state))
    local = now.astimezone(zone)
    start, end = CONTACT_WINDOW
    if start <= local.time() < end:
        return now
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=zone)
