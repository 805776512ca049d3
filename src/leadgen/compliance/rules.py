"""Consent and contact rules (TCPA-style), as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from leadgen.leads.geography import timezones_for_state

SUNDAY = 6


@dataclass(frozen=True)
class ContactHours:
    """When a person may be contacted, in their local time: from ``start`` (``sunday_start`` on
    Sundays where a state sets a later one) until ``end``."""

    start: time = time(8)
    end: time = time(21)
    sunday_start: time | None = None

    def on(self, day: date) -> tuple[time, time]:
        if self.sunday_start is not None and day.weekday() == SUNDAY:
            return self.sunday_start, self.end
        return self.start, self.end

    def describe(self) -> str:
        """The hours as an agent reads them: "9 am to 9 pm, from noon on Sundays"."""
        text = f"{_clock(self.start)} to {_clock(self.end)}"
        return f"{text}, from {_clock(self.sunday_start)} on Sundays" if self.sunday_start else text


def _clock(at: time) -> str:
    if at == time(12):
        return "noon"
    minutes = f":{at.minute:02d}" if at.minute else ""
    return f"{at.hour % 12 or 12}{minutes} {'am' if at.hour < 12 else 'pm'}"


# 47 CFR 64.1200(c)(1): not before 8 am or after 9 pm at the called party's location.
FEDERAL_CONTACT_HOURS = ContactHours()
# States whose telemarketing statutes set narrower hours than the federal rule; every other state
# gets the federal hours. Operators should have counsel review this table for their states.
STATE_CONTACT_HOURS: dict[str, ContactHours] = {
    "FL": ContactHours(end=time(20)),  # Florida Telephone Solicitation Act, Fla. Stat. 501.616(6)(a)
    "MD": ContactHours(end=time(20)),  # Maryland Stop the Spam Calls Act (2023)
    "OK": ContactHours(end=time(20)),  # Oklahoma Telephone Solicitation Act, 15 O.S. 775C.4
    "TX": ContactHours(start=time(9), sunday_start=time(12)),  # Tex. Bus. & Com. Code 301.051
    "WA": ContactHours(end=time(20)),  # RCW 80.36.390
}
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


def contact_hours(state: str) -> ContactHours:
    return STATE_CONTACT_HOURS.get(state, FEDERAL_CONTACT_HOURS)


def in_contact_window(state: str, now: datetime) -> bool:
    """Whether the state's contact hours hold at ``now`` in each of its time zones: the person's
    own zone is not known, so a state split between two is contacted only when both allow it."""
    hours = contact_hours(state)
    for name in timezones_for_state(state):
        local = now.astimezone(ZoneInfo(name))
        start, end = hours.on(local.date())
        if not start <= local.time() < end:
            return False
    return True


def next_contact_time(state: str, now: datetime) -> datetime:
    """The earliest moment at or after ``now`` inside the lead's contact window (in UTC when later).

    Where the window of every zone is open at once, it opened when the last of them did, so the
    answer is ``now`` or one of the coming openings; two days ahead covers a Saturday evening."""
    if in_contact_window(state, now):
        return now
    hours = contact_hours(state)
    openings = []
    for name in timezones_for_state(state):
        zone = ZoneInfo(name)
        today = now.astimezone(zone).date()
        for day in (today + timedelta(days=n) for n in range(3)):
            openings.append(datetime.combine(day, hours.on(day)[0], tzinfo=zone))
    return min(at for at in openings if at > now and in_contact_window(state, at)).astimezone(UTC)
