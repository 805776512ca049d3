"""What lead sources send us and what we answer; one details model per insurance line."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    IPvAnyAddress,
    field_validator,
    model_validator,
)

from leadgen.leads.geography import STATES, state_for_zip
from leadgen.leads.normalize import clean_text, phone_e164, zip5

Text100 = Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_Strict):
    street: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    state: str | None = Field(None, description="Two-letter code; derived from the ZIP when absent.")
    zip: str = Field(description="Five-digit ZIP (ZIP+4 accepted).")

    @field_validator("zip")
    @classmethod
    def _zip(cls, value: str) -> str:
        normalised = zip5(value)
        if normalised is None or state_for_zip(normalised) is None:
            raise ValueError("not a US ZIP code")
        return normalised

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in STATES:
            raise ValueError("not a US state code")
        return value.upper() if value else None

    @model_validator(mode="after")
    def _state_matches_zip(self) -> Address:
        derived = state_for_zip(self.zip)
        if self.state is not None and self.state != derived:
            raise ValueError(f"state {self.state} does not match ZIP {self.zip} ({derived})")
        self.state = derived
        return self


class Contact(_Strict):
    first_name: Text100
    last_name: Text100
    email: EmailStr | None = None
    phone: str | None = Field(None, description="US number in any common format; stored as E.164.")
    address: Address
    date_of_birth: date | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalised = phone_e164(value)
        if normalised is None:
            raise ValueError("not a valid US phone number")
        return normalised

    @field_validator("first_name", "last_name")
    @classmethod
    def _names(cls, value: str) -> str:
        return clean_text(value)

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if self.email is None and self.phone is None:
            raise ValueError("a phone number or an e-mail address is required")
        return self

    @field_validator("date_of_birth")
    @classmethod
    def _adult(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("date of birth out of range")
        return value


class Consent(_Strict):
    """TCPA consent exactly as the person saw and gave it."""

    text: str = Field(min_length=20, max_length=5000, description="The consent language shown.")
    captured_at: datetime
    ip: IPvAnyAddress | None = None
    page_url: AnyHttpUrl | None = None
    trustedform_cert_url: AnyHttpUrl | None = None
    jornaya_leadid: str | None = Field(None, max_length=64)


class Driver(_Strict):
    age_first_licensed: int = Field(ge=14, le=99)
    incidents_last_5_years: int = Field(0, ge=0, le=50)
    sr22_required: bool = False


class Vehicle(_Strict):
    year: int = Field(ge=1950, le=2030)
    make: Text100
    model: Text100
    use: Literal["commute", "pleasure", "business", "farm"] = "commute"
    annual_mileage: int | None = Field(None, ge=0, le=200000)


class AutoDetails(_Strict):
    drivers: list[Driver] = Field(min_length=1, max_length=8)
    vehicles: list[Vehicle] = Field(min_length=1, max_length=8)
    coverage_tier: Literal["state_minimum", "standard", "premium"] = "standard"


class HomeDetails(_Strict):
    year_built: int = Field(ge=1800, le=2030)
    square_feet: int = Field(ge=100, le=50000)
    construction: Literal["frame", "masonry", "steel", "other"] = "frame"
    roof_age_years: int | None = Field(None, ge=0, le=100)
    claims_last_5_years: int = Field(0, ge=0, le=50)
    dwelling_coverage: int = Field(ge=10000, le=20_000_000)


class LifeDetails(_Strict):
    height_inches: int = Field(ge=36, le=96)
    weight_pounds: int = Field(ge=50, le=700)
    tobacco: bool
    face_amount: int = Field(ge=1000, le=50_000_000)
    product: Literal["term", "whole", "final_expense"] = "term"
    term_years: int | None = Field(None, ge=5, le=40)


class HouseholdMember(_Strict):
    relationship: Literal["self", "spouse", "child", "other"]
    age: int = Field(ge=0, le=120)


class HealthDetails(_Strict):
    household: list[HouseholdMember] = Field(min_length=1, max_length=15)
    annual_income: int | None = Field(None, ge=0, le=100_000_000)
    coverage_start: date | None = None
    qualifying_event: str | None = Field(None, max_length=100)
    medicare_interest: bool = False


class CommercialDetails(_Strict):
    legal_name: Text100
    entity_type: Literal["sole_proprietor", "llc", "corporation", "partnership", "nonprofit"]
    class_code: str | None = Field(None, max_length=16)
    years_in_business: int = Field(ge=0, le=300)
    employees: int = Field(ge=0, le=1_000_000)
    annual_revenue: int | None = Field(None, ge=0)
    coverages: list[str] = Field(min_length=1, max_length=20)


class _LeadBase(_Strict):
    external_id: str | None = Field(None, max_length=128, description="The sender's own id.")
    campaign: str | None = Field(None, max_length=128)
    sub_id: str | None = Field(None, max_length=128)
    origin: Literal["web", "phone", "referral", "event"] = Field(
        "web", description="How the person reached us; web leads must carry a consent record."
    )
    exclusive: bool = True
    test: bool = False
    contact: Contact
    currently_insured: bool | None = None
    current_carrier: str | None = Field(None, max_length=100)
    policy_expires_on: date | None = None
    landing_page: AnyHttpUrl | None = None
    ip: IPvAnyAddress | None = None
    user_agent: str | None = Field(None, max_length=512)
    consent: Consent | None = None
    notes: str | None = Field(None, max_length=2000)


class AutoLead(_LeadBase):
    line: Literal["auto"]
    details: AutoDetails


class HomeLead(_LeadBase):
    line: Literal["home"]
    details: HomeDetails


class LifeLead(_LeadBase):
    line: Literal["life"]
    details: LifeDetails


class HealthLead(_LeadBase):
    line: Literal["health"]
    details: HealthDetails


class CommercialLead(_LeadBase):
    line: Literal["commercial"]
    details: CommercialDetails


LeadCreate = Annotated[AutoLead | HomeLead | LifeLead | HealthLead | CommercialLead, Field(discriminator="line")]
AnyLead = AutoLead | HomeLead | LifeLead | HealthLead | CommercialLead


class LeadAccepted(BaseModel):
    id: uuid.UUID
    status: str
    received_at: datetime


class AssignmentPublic(BaseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    agent_name: str | None = None
    attempt: int
    status: str
    strategy: str
    expires_at: datetime
    explanation: dict[str, Any]


class LeadEventPublic(BaseModel):
    name: str
    at: datetime
    data: dict[str, Any]


class LeadPublic(BaseModel):
    id: uuid.UUID
    line: str
    state: str
    status: str
    status_reason: str | None
    received_at: datetime
    score: int | None
    score_factors: dict[str, Any] | None
    insights: dict[str, Any] | None = None
    duplicate_of_id: uuid.UUID | None
    assignment: AssignmentPublic | None
    do_not_contact: bool = Field(
        False, description="The person opted out or was erased: nobody may contact them or take the lead."
    )
    contact_states: list[str] = Field(
        default_factory=list,
        description="States whose calling hours hold for the person: the address's, and the one a law "
        "presumes from the phone number's area code.",
    )
    events: list[LeadEventPublic]


class LeadSummary(BaseModel):
    id: uuid.UUID
    line: str
    state: str
    status: str
    score: int | None
    received_at: datetime
    campaign: str | None


class LeadForSource(BaseModel):
    """A lead as the source that sent it reads it: how it fared, not who worked it."""

    id: uuid.UUID
    line: str
    state: str
    status: str
    status_reason: str | None
    received_at: datetime
    score: int | None
