"""Agents as admins manage them."""

from __future__ import annotations

import uuid
from datetime import date, time
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from leadgen.core.input import RequestBody
from leadgen.leads.geography import STATES
from leadgen.leads.lifecycle import Line
from leadgen.leads.normalize import parsed_phone


def _not_a_boolean(value: object) -> object:
    """JSON's true and false are no numbers, though Python counts them as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError("a whole number, not true or false")
    return value


# A whole number as given in JSON (or as text, from a form): never a boolean.
Count = Annotated[int, BeforeValidator(_not_a_boolean)]


class LicenceIn(RequestBody):
    model_config = ConfigDict(extra="forbid")
    state: str
    line: Line
    number: str | None = Field(None, max_length=64)
    expires_on: date

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value.upper() not in STATES:
            raise ValueError("not a US state code")
        return value.upper()


class ShiftIn(RequestBody):
    """A weekly shift, on the agent's own clock (``routing.rules.on_shift``). It starts on its weekday;
    one whose end is not after its start runs on past midnight into the next day, so equal times make
    a 24-hour shift: "00:00" to "00:00" is the whole weekday."""

    model_config = ConfigDict(extra="forbid")
    weekday: Count = Field(ge=0, le=6, description="0 = Monday: the day the shift starts.")
    starts_at: time = Field(description="A wall-clock time in the agent's time zone, without a UTC offset.")
    ends_at: time = Field(
        description="A wall-clock time in the agent's time zone, without a UTC offset. Not after `starts_at`: "
        "the next day's (22:00 to 06:00 runs overnight); equal to it: 24 hours (00:00 to 00:00 is the whole day)."
    )

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        # Stored without its offset, a time with one would be read as the agent's own clock time.
        if value.tzinfo is not None:
            raise ValueError("shift times are wall-clock times in the agent's time zone: leave out the UTC offset")
        return value


def _e164(value: str) -> str:
    """The number as intake stores a lead's: offers are texted to it as stored. One given with an
    extension is refused rather than stored without it: a text reaches only the switchboard."""
    number = parsed_phone(value)
    if number is None:
        raise ValueError("not a valid phone number")
    if number.extension is not None:
        raise ValueError("offers are texted to this number, which cannot reach an extension: give a mobile number")
    return number.e164


# In the time zone database but no place's zone: the host's own (``localtime``, which differs from
# host to host), a placeholder of no offset (``Factory``), the template of POSIX rules (``posixrules``).
_PLACELESS_ZONES = frozenset({"localtime", "Factory", "posixrules"})


def _iana(value: str) -> str:
    if value not in available_timezones() or value in _PLACELESS_ZONES:
        raise ValueError("not an IANA time zone")
    return value


def _one_per_market(licences: list[LicenceIn]) -> list[LicenceIn]:
    """An agent holds one licence per state and line (the database refuses a second)."""
    seen: set[tuple[str, Line]] = set()
    for licence in licences:
        if (licence.state, licence.line) in seen:
            raise ValueError(f"{licence.line} in {licence.state} is listed twice")
        seen.add((licence.state, licence.line))
    return licences


Phone = Annotated[str, AfterValidator(_e164), Field(description="Normalised to E.164 (+15125550147).")]
# Surrounding spaces left out, then something must be left: a blank name names nobody.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TimeZone = Annotated[str, AfterValidator(_iana)]
Licences = Annotated[list[LicenceIn], AfterValidator(_one_per_market)]


class AgentCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")
    name: Name
    email: EmailStr
    phone: Phone | None = None
    timezone: TimeZone = "America/New_York"
    daily_cap: Count = Field(25, ge=0, le=1000)
    open_cap: Count = Field(50, ge=0, le=5000)
    weight: Count = Field(1, ge=1, le=100)
    licences: Licences = Field(default_factory=list)
    shifts: list[ShiftIn] = Field(default_factory=list)


class AgentUpdate(RequestBody):
    """A change to an agent: only the fields sent change. ``licences`` and ``shifts``, when sent,
    replace the agent's whole list."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    email: EmailStr | None = None
    phone: Phone | None = Field(None, description="Normalised to E.164; null removes the agent's phone.")
    timezone: TimeZone | None = None
    daily_cap: Count | None = Field(None, ge=0, le=1000)
    open_cap: Count | None = Field(None, ge=0, le=5000)
    weight: Count | None = Field(None, ge=1, le=100)
    active: bool | None = Field(
        None,
        description="false stops new offers at once, and a worker then withdraws the agent's offers not yet "
        "answered and sends each lead on to its next routing round; leads the agent accepted stay with them. "
        "true makes the agent routable again.",
    )
    licences: Licences | None = Field(
        None,
        description="Replaces the agent's whole list. A worker then withdraws the agent's offers not yet answered "
        "of leads no licence left covers (the reason: licence no longer holds) and sends each lead on to its next "
        "routing round.",
    )
    shifts: list[ShiftIn] | None = None

    @field_validator("name", "email", "timezone", "daily_cap", "open_cap", "weight", "active", "licences", "shifts")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only the phone may be removed; leaving a field out is how it stays as it is.
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value


class AgentPublic(BaseModel):
    """An agent as stored. Its phone is not checked again, so an agent saved before numbers were
    normalised still shows (and is normalised by the next change of it)."""

    id: uuid.UUID
    # Counts staff's changes to the agent; also the ETag that a change's If-Match names.
    revision: int
    active: bool
    name: str
    email: str
    phone: str | None
    timezone: str
    daily_cap: int
    open_cap: int
    weight: int
    licences: list[LicenceIn]
    shifts: list[ShiftIn]
