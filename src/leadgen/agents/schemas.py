"""Agents as admins manage them."""

from __future__ import annotations

import uuid
from datetime import date, time
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from leadgen.leads.geography import STATES
from leadgen.leads.lifecycle import Line


class LicenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str
    line: Line
    number: str | None = None
    expires_on: date

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value.upper() not in STATES:
            raise ValueError("not a US state code")
        return value.upper()


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    starts_at: time
    ends_at: time


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = None
    timezone: str = "America/New_York"
    daily_cap: int = Field(25, ge=0, le=1000)
    open_cap: int = Field(50, ge=0, le=5000)
    weight: int = Field(1, ge=1, le=100)
    licences: list[LicenceIn] = Field(default_factory=list)
    shifts: list[ShiftIn] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("not an IANA time zone")
        return value


class AgentPublic(AgentCreate):
    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID
    active: bool
