"""What lead sources send us and what we answer; one details model per insurance line."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    EmailStr,
    Field,
    IPvAnyAddress,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from leadgen.compliance.consent import is_known_consent_text
from leadgen.core.input import RequestBody
from leadgen.leads.geography import STATES, state_for_zip
from leadgen.leads.lifecycle import Line
from leadgen.leads.normalize import clean_text, parsed_phone, zip5

Text100 = Annotated[str, Field(min_length=1, max_length=100)]


def _public_address(value: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    # A scope id (fe80::1%eth0) names an interface of the sender's own machine, not where a person
    # was, and makes an address longer than its column (45 characters) holds.
    if "%" in str(value):
        raise ValueError("an IP address without a scope id (%...)")
    return value


IpAddress = Annotated[IPvAnyAddress, AfterValidator(_public_address)]
WEB_ADDRESS_MAX_LENGTH = 2048  # the columns that keep them (``models.leads``)


def _storable_url(value: AnyHttpUrl) -> AnyHttpUrl:
    # Measured as stored: percent-encoding makes a URL of non-ASCII characters longer than it was sent.
    if len(str(value)) > WEB_ADDRESS_MAX_LENGTH:
        raise ValueError(f"URL should have at most {WEB_ADDRESS_MAX_LENGTH} characters, percent-encoded")
    return value


WebAddress = Annotated[AnyHttpUrl, AfterValidator(_storable_url)]

# How far from the day a lead arrives its current policy's renewal or end date may lie. Back: a
# policy lapsed longer ago leaves the person uninsured rather than between policies. Ahead: policies
# renew every six or twelve months, and the longest common terms (three-year home policies) end
# within five years. Beyond either, the date is a mistake or made up (the score reads the time to it).
POLICY_LAPSED_AT_MOST = timedelta(days=2 * 365)
POLICY_ENDS_WITHIN = timedelta(days=5 * 365)


def _policy_date(value: date) -> date:
    # Today in UTC stands for the day of receipt: the lead's own time zone moves it a day at most,
    # which bounds of years can ignore.
    today = datetime.now(UTC).date()
    earliest, latest = today - POLICY_LAPSED_AT_MOST, today + POLICY_ENDS_WITHIN
    if not earliest <= value <= latest:
        raise ValueError(
            f"should be from {earliest} to {latest}: a policy that lapsed in the last 2 years or "
            "renews or ends in the next 5"
        )
    return value


PolicyDate = Annotated[date, AfterValidator(_policy_date)]
POLICY_DATE_DESCRIPTION = (
    "The day the person's current policy renews or ends (or ended), from 2 years before the lead is "
    "received to 5 years after. Leave it out for a policy that ends later, such as a life policy's term."
)


class _Strict(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_Strict):
    street: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    # Before the state: the state's check reads the ZIP, and validation follows this order.
    zip: str = Field(description="Five-digit ZIP (ZIP+4 accepted).")
    state: str | None = Field(None, description="Two-letter code; derived from the ZIP when absent.")

    @field_validator("zip")
    @classmethod
    def _zip(cls, value: str) -> str:
        normalised = zip5(value)
        if normalised is None or state_for_zip(normalised) is None:
            raise ValueError("not a US ZIP code")
        return normalised

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        state = value.upper()
        if state not in STATES:
            raise ValueError("not a US state code")
        zip_code = info.data.get("zip")  # absent when the ZIP itself was refused
        if zip_code is not None and state != state_for_zip(zip_code):
            raise ValueError(f"state {state} does not match ZIP {zip_code} ({state_for_zip(zip_code)})")
        return state

    @model_validator(mode="after")
    def _state_from_zip(self) -> Address:
        self.state = state_for_zip(self.zip)
        return self


class Contact(_Strict):
    first_name: Text100
    last_name: Text100
    email: EmailStr | None = None
    phone: str | None = Field(
        None, description="A number of the US or its territories, in any common format; stored as E.164."
    )
    address: Address
    date_of_birth: date | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        number = parsed_phone(value)
        if number is None:
            raise ValueError("not a valid US phone number")
        if not number.in_us:
            raise ValueError("not a US phone number")
        return number.e164

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
    captured_at: AwareDatetime = Field(description="When the person agreed, with its time zone (Z or an offset).")
    ip: IpAddress | None = None
    page_url: WebAddress | None = None
    trustedform_cert_url: WebAddress | None = None
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
    annual_revenue: int | None = Field(None, ge=0, le=10**12)
    coverages: list[Text100] = Field(min_length=1, max_length=20)


class _LeadBase(_Strict):
    external_id: str | None = Field(
        None,
        max_length=128,
        description="The sender's own id for the lead; a blank one is no id. Sent again for the same person "
        "(a phone number or e-mail address in common), it answers with the lead stored the first time; for "
        "another person it is refused (409).",
    )
    campaign: str | None = Field(None, max_length=128, description="A blank one is no campaign.")
    sub_id: str | None = Field(None, max_length=128)
    origin: Literal["web", "phone", "referral", "event"] = Field(
        "web", description="How the person reached us; web leads must carry a consent record."
    )
    exclusive: bool = True
    test: bool = False
    contact: Contact
    currently_insured: bool | None = None
    current_carrier: str | None = Field(None, max_length=100)
    policy_expires_on: PolicyDate | None = Field(None, description=POLICY_DATE_DESCRIPTION)
    landing_page: WebAddress | None = None
    ip: IpAddress | None = None
    user_agent: str | None = Field(None, max_length=512)
    consent: Consent | None = None
    notes: str | None = Field(None, max_length=2000)

    @field_validator("external_id", "campaign")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        # Blank ("" or, stripped, whitespace) names nothing: as an id, every lead sent with it would
        # be answered as a retry of the first and dropped; as a campaign, it would be reported as one.
        return value or None


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


_LINES = tuple(line.value for line in Line)
_QUOTED_LINES = [f"'{line}'" for line in _LINES]
_EXPECTED_LINES = ", ".join(_QUOTED_LINES[:-1]) + " or " + _QUOTED_LINES[-1]


def _known_line(value: Any) -> Any:
    """Refuses a body without a known ``line`` before the union picks its member by it: pydantic's
    own error for a missing line does not say which lines there are. The ``discriminator`` in the
    error's context names the field the error is about (``core.errors``)."""
    if isinstance(value, dict) and value.get("line") not in _LINES:
        if "line" in value:
            kind, message = "union_tag_invalid", "Input should be {expected}"
        else:
            kind, message = "union_tag_not_found", "Field required: one of {expected}"
        raise PydanticCustomError(kind, message, {"discriminator": "line", "expected": _EXPECTED_LINES})
    return value


# Discriminator() rather than Field(discriminator=...): FastAPI moves a Field of a body parameter
# off the type, and the union beside a BeforeValidator then tried every member.
LeadCreate = Annotated[
    AutoLead | HomeLead | LifeLead | HealthLead | CommercialLead,
    Discriminator("line"),
    BeforeValidator(_known_line),
]
AnyLead = AutoLead | HomeLead | LifeLead | HealthLead | CommercialLead


def _consent_record_given(value: Any) -> Any:
    """The previous release's quote form sent the consent record itself, and only when the box was
    ticked: such an object means ``consent: true``. What it says is not read (the api records its
    own text, time and address). Remove it with the previous release's fields below."""
    return True if isinstance(value, dict) else value


class _QuoteRequestBase(_Strict):
    """What a person gives on the public quote form. The server decides the rest of the lead: the
    consent record (the form's own text, now, the person's address), origin, source and flags."""

    contact: Contact
    currently_insured: bool | None = None
    current_carrier: str | None = Field(None, max_length=100)
    policy_expires_on: PolicyDate | None = Field(None, description=POLICY_DATE_DESCRIPTION)
    user_agent: str | None = Field(None, max_length=512)
    consent: Annotated[bool, BeforeValidator(_consent_record_given)] = Field(
        description="The person ticked the box agreeing to the quote form's consent text; must be true."
    )
    # Optional for this release only: the previous release's form does not send it, and its
    # requests are recorded with the current text (``compliance.consent.shown_consent_text``).
    # Required from the next release on.
    consent_text_sha256: str | None = Field(
        None,
        max_length=64,
        description="The SHA-256 (lowercase hex) of the consent text the form showed beside the box; the "
        "api records that text as the one agreed to, and refuses a digest of a text it does not know.",
    )
    # Sent by the previous release's quote form, whose pods still serve during a rollout to this
    # one: accepted and ignored, the lead takes the server's (``leads.service.quote_request_lead``),
    # and left out of the OpenAPI description. Remove them, and _consent_record_given, in the next
    # release.
    origin: SkipJsonSchema[Literal["web"] | None] = None
    landing_page: SkipJsonSchema[str | None] = Field(None, max_length=2048)
    ip: SkipJsonSchema[str | None] = Field(None, max_length=64)

    @field_validator("consent")
    @classmethod
    def _agreed(cls, value: bool) -> bool:
        if not value:
            raise ValueError("must be true: only a person who agreed to the consent text may be contacted")
        return value

    @field_validator("consent_text_sha256")
    @classmethod
    def _known_text(cls, value: str | None) -> str | None:
        # Refused rather than recorded with another text: the record must be the words shown.
        if value is not None and not is_known_consent_text(value):
            raise ValueError("not the SHA-256 of a consent text this api knows; the form must show a current one")
        return value


class AutoQuoteRequest(_QuoteRequestBase):
    line: Literal["auto"]
    details: AutoDetails


class HomeQuoteRequest(_QuoteRequestBase):
    line: Literal["home"]
    details: HomeDetails


class LifeQuoteRequest(_QuoteRequestBase):
    line: Literal["life"]
    details: LifeDetails


class HealthQuoteRequest(_QuoteRequestBase):
    line: Literal["health"]
    details: HealthDetails


class CommercialQuoteRequest(_QuoteRequestBase):
    line: Literal["commercial"]
    details: CommercialDetails


QuoteRequestCreate = Annotated[
    AutoQuoteRequest | HomeQuoteRequest | LifeQuoteRequest | HealthQuoteRequest | CommercialQuoteRequest,
    Discriminator("line"),
    BeforeValidator(_known_line),
]
AnyQuoteRequest = AutoQuoteRequest | HomeQuoteRequest | LifeQuoteRequest | HealthQuoteRequest | CommercialQuoteRequest


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
    outcome: str | None = Field(
        None,
        description="What this offer's agent recorded last (CONTACTED, QUOTED, CONVERTED or LOST), none before "
        "any: each agent of a shared lead has their own; the lead's status is derived from all of theirs.",
    )
    outcome_at: datetime | None = None
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


class _LeadOutline(BaseModel):
    id: uuid.UUID
    line: str
    state: str
    status: str
    score: int | None
    received_at: datetime


class LeadSummary(_LeadOutline):
    """A row of the lead list."""

    campaign: str | None


class LeadForSource(_LeadOutline):
    """A lead as the source that sent it reads it: how it fared, not who worked it."""

    status_reason: str | None
