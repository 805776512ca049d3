"""What lead sources send us and what we answer; one details model per insurance line."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, ClassVar, Literal

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
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from leadgen.compliance.consent import is_known_consent_text
from leadgen.core.input import RequestBody
from leadgen.leads.geography import MILITARY_ADDRESS_REFUSED, MILITARY_STATES, STATES, is_military_zip, states_for_zip
from leadgen.leads.lifecycle import Line
from leadgen.leads.normalize import (
    PHONE_EXTENSION_MAX_DIGITS,
    clean_text,
    name_refusal,
    parsed_phone,
    text_refusal,
    zip5,
)

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
_HTTP_URL = TypeAdapter[AnyHttpUrl](AnyHttpUrl)


def _http_url_as_sent(value: str) -> str:
    """An http(s) URL, checked as ``AnyHttpUrl`` checks one but kept as sent: parsing would lower-case
    its host, add a slash and percent-encode it, and the consent record keeps the link it was given."""
    # The parser drops these silently, so the string stored would not be the URL it checked.
    if value != value.strip() or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise ValueError("a URL without spaces around it or control characters in it")
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PydanticCustomError(error["type"], error["msg"]) from None
    return value


SentWebAddress = Annotated[
    str,
    StringConstraints(max_length=WEB_ADDRESS_MAX_LENGTH),
    AfterValidator(_http_url_as_sent),
    WithJsonSchema({"type": "string", "format": "uri", "minLength": 1, "maxLength": WEB_ADDRESS_MAX_LENGTH}),
]

# How far from the day a lead arrives its current policy's renewal or end date may lie. Back: a
# policy lapsed longer ago leaves the person uninsured rather than between policies. Ahead: policies
# renew every six or twelve months, and the longest common terms (three-year home policies) end
# within five years. Beyond either, the date is a mistake or made up (the score reads the time to it).
POLICY_LAPSED_AT_MOST = timedelta(days=2 * 365)
POLICY_ENDS_WITHIN = timedelta(days=5 * 365)


def _received_today() -> date:
    # Today in UTC stands for the day of receipt: the lead's own time zone moves it a day at most,
    # which bounds of years can ignore.
    return datetime.now(UTC).date()


def _within(value: date, earliest: date, latest: date, meaning: str) -> date:
    """``value``, or a ValueError naming the range and what a date in it means."""
    if not earliest <= value <= latest:
        raise ValueError(f"should be from {earliest} to {latest}: {meaning}")
    return value


def _around_receipt(back: timedelta, ahead: timedelta, meaning: str) -> Callable[[date], date]:
    """A check of a date from ``back`` before the day of receipt to ``ahead`` after it."""

    def check(value: date) -> date:
        today = _received_today()
        return _within(value, today - back, today + ahead, meaning)

    return check


_policy_date = _around_receipt(
    POLICY_LAPSED_AT_MOST,
    POLICY_ENDS_WITHIN,
    "a policy that lapsed in the last 2 years or renews or ends in the next 5",
)


PolicyDate = Annotated[date, AfterValidator(_policy_date)]
POLICY_DATE_DESCRIPTION = (
    "The day the person's current policy renews or ends (or ended), from 2 years before the lead is "
    "received to 5 years after. Leave it out for a policy that ends later, such as a life policy's term."
)

# The ages of a person a lead may be for: from the youngest who may hold a driving licence, and so
# ask for auto cover, to the oldest a person lives. A date of birth outside them is a mistake.
YOUNGEST_AGE, OLDEST_AGE = 16, 120


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February, in a year without one
        return day.replace(year=day.year - years, day=28)


def _aged_16_to_120(value: date) -> date:
    today = _received_today()
    earliest = _years_before(today, OLDEST_AGE + 1) + timedelta(days=1)
    latest = _years_before(today, YOUNGEST_AGE)
    return _within(value, earliest, latest, f"a person aged {YOUNGEST_AGE} to {OLDEST_AGE} when the lead is received")


# How far from the day a health lead arrives the cover it asks for may start: back, a cover that
# started in the last year (a special enrolment period after a qualifying event reaches back
# months); ahead, the next two years' open enrolments.
COVERAGE_STARTED_AT_MOST = timedelta(days=365)
COVERAGE_STARTS_WITHIN = timedelta(days=2 * 365)


_coverage_start = _around_receipt(
    COVERAGE_STARTED_AT_MOST, COVERAGE_STARTS_WITHIN, "cover that started in the last 1 year or starts in the next 2"
)


class _Strict(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # The fields a person writes over several lines: their line breaks and tabs are kept.
    multiline_fields: ClassVar[frozenset[str]] = frozenset()

    # Every text of a lead, of a quote request and of their parts: what no person writes is refused
    # (``normalize.text_refusal``), naming the field, rather than shown to agents or kept in logs.
    @field_validator("*", mode="after")
    @classmethod
    def _as_written_by_a_person(cls, value: Any, info: ValidationInfo) -> Any:
        texts = value if isinstance(value, list) else [value]
        multiline = info.field_name in cls.multiline_fields
        for text in texts:
            if isinstance(text, str) and (refusal := text_refusal(text, multiline)) is not None:
                raise ValueError(refusal)
        return value


class Address(_Strict):
    street: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    # Before the state: the state's check reads the ZIP, and validation follows this order.
    zip: str = Field(description="Five-digit ZIP (ZIP+4 accepted); a military APO/FPO/DPO one is refused.")
    # Validated when absent too: the ZIP then names the state, unless it serves more than one.
    state: str | None = Field(
        None,
        validate_default=True,
        description="Two-letter code; derived from the ZIP when absent, except for a ZIP that serves more "
        "than one state (Fort Campbell's 42223: Kentucky and Tennessee), which needs it.",
    )

    @field_validator("zip")
    @classmethod
    def _zip(cls, value: str) -> str:
        normalised = zip5(value)
        if normalised is not None and is_military_zip(normalised):
            raise ValueError(MILITARY_ADDRESS_REFUSED)
        if normalised is None or not states_for_zip(normalised):
            raise ValueError("not a US ZIP code")
        return normalised

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None, info: ValidationInfo) -> str | None:
        zip_code = info.data.get("zip")  # absent when the ZIP itself was refused
        served = states_for_zip(zip_code) if zip_code is not None else ()
        if value is None:
            if len(served) > 1:
                # Never guessed: the lead's state picks the agents licensed to take it. A "missing"
                # error, so that it is reported on the state (``core.errors``), which the body lacks.
                raise PydanticCustomError(
                    "missing",
                    "ZIP {zip} serves more than one state: give the state, {states}",
                    {"zip": zip_code, "states": " or ".join(served)},
                )
            return served[0] if served else None
        state = value.upper()
        if state in MILITARY_STATES:
            raise ValueError(MILITARY_ADDRESS_REFUSED)
        if state not in STATES:
            raise ValueError("not a US state code")
        if served and state not in served:
            raise ValueError(f"state {state} does not match ZIP {zip_code} ({' or '.join(served)})")
        return state


_EXTENSION = ";ext="  # RFC 3966's parameter of a number's extension


class Contact(_Strict):
    first_name: Text100
    last_name: Text100
    email: EmailStr | None = None
    phone: str | None = Field(
        None,
        description="A number of the US or its territories, in any common format; stored as E.164. An "
        f'extension written after it ("ext. 101", "x101", "#101"; at most {PHONE_EXTENSION_MAX_DIGITS} digits) '
        "is stored beside it and shown with the number to the agent who takes the lead.",
    )
    address: Address
    date_of_birth: Annotated[date, AfterValidator(_aged_16_to_120)] | None = Field(
        None, description=f"Of a person aged {YOUNGEST_AGE} to {OLDEST_AGE} on the day the lead is received."
    )
    # The extension ``phone`` was given with: ``_phone_parts`` keeps it apart from the number.
    _phone_extension: str | None = PrivateAttr(None)

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
        if number.service is not None:
            raise ValueError(f"{number.service} reaches a service, not a person: give a fixed-line or mobile number")
        if number.extension is None:
            return number.e164
        if len(number.extension) > PHONE_EXTENSION_MAX_DIGITS:
            raise ValueError(f"an extension has at most {PHONE_EXTENSION_MAX_DIGITS} digits")
        # In RFC 3966's form until ``_phone_parts`` keeps the extension apart (parsed once).
        return f"{number.e164}{_EXTENSION}{number.extension}"

    @model_validator(mode="after")
    def _phone_parts(self) -> Contact:
        # Also run on a contact handed to another model (a quote request's to its lead), whose
        # extension is apart already.
        if self.phone is not None and _EXTENSION in self.phone:
            self.phone, self._phone_extension = self.phone.split(_EXTENSION)
        return self

    @property
    def phone_extension(self) -> str | None:
        """The extension of ``phone``, in ASCII digits; None when the number was given without one."""
        return self._phone_extension

    @field_validator("first_name", "last_name")
    @classmethod
    def _names(cls, value: str) -> str:
        refusal = name_refusal(value)
        if refusal is not None:
            raise ValueError(refusal)
        return clean_text(value)

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if self.email is None and self.phone is None:
            raise ValueError("a phone number or an e-mail address is required")
        return self


CONSENT_TEXT_MIN_LENGTH = 20
# A TrustedForm certificate URL as TrustedForm's script writes it into the form: https, its
# certificate host, and the certificate's id. Its documentation shows 40 hex digits; ActiveProspect's
# own check of the leads it takes (LeadConduit's TrustedForm integration) also accepts the 40 or 80
# letters, digits, dashes and underscores of mobile certificates, and so does this one.
TRUSTEDFORM_CERTIFICATE_URL = re.compile(r"https://cert\.trustedform\.com/(?:[A-Za-z0-9_-]{40}|[A-Za-z0-9_-]{80})")
TRUSTEDFORM_CERTIFICATE_FORM = (
    "https://cert.trustedform.com/ and the certificate's id (40 hex digits, or a mobile certificate's "
    "40 or 80 letters, digits, - and _)"
)
# A Jornaya LeadiD as Jornaya documents it (its implementation FAQ): 36 characters, hex digits in
# the groups of a GUID.
JORNAYA_LEADID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
JORNAYA_LEADID_FORM = "36 characters, hex digits as XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"


def _trustedform_certificate(value: str) -> str:
    # The form alone is checked: whether TrustedForm issued the certificate only its API can say,
    # which this api does not call. A certificate given in this form counts as given, not as verified.
    if not TRUSTEDFORM_CERTIFICATE_URL.fullmatch(value):
        raise ValueError(f"should be a TrustedForm certificate URL: {TRUSTEDFORM_CERTIFICATE_FORM}")
    return value


TrustedFormCertificateUrl = Annotated[
    SentWebAddress,
    AfterValidator(_trustedform_certificate),
    WithJsonSchema({"type": "string", "format": "uri", "pattern": f"^{TRUSTEDFORM_CERTIFICATE_URL.pattern}$"}),
]


class Consent(_Strict):
    """TCPA consent exactly as the person saw and gave it: its text, page and certificate are kept
    as sent, so that their digest and links match the vendor's and TrustedForm's."""

    model_config = ConfigDict(str_strip_whitespace=False)

    text: str = Field(
        min_length=CONSENT_TEXT_MIN_LENGTH,
        max_length=5000,
        description="The consent language shown, kept as sent (spaces and line breaks included); its SHA-256 "
        "is of these exact characters, UTF-8 encoded.",
    )
    captured_at: AwareDatetime = Field(description="When the person agreed, with its time zone (Z or an offset).")
    ip: IpAddress | None = None
    page_url: SentWebAddress | None = None
    trustedform_cert_url: TrustedFormCertificateUrl | None = Field(
        None, description=f"The TrustedForm certificate's URL, kept as sent: {TRUSTEDFORM_CERTIFICATE_FORM}."
    )
    jornaya_leadid: str | None = Field(
        None, max_length=64, description=f"The Jornaya LeadiD, kept as sent: {JORNAYA_LEADID_FORM}."
    )
    multiline_fields = frozenset({"text"})

    @field_validator("text")
    @classmethod
    def _words(cls, value: str) -> str:
        # Measured without the spaces around it, as when they were stripped: they are no words.
        if len(value.strip()) < CONSENT_TEXT_MIN_LENGTH:
            raise ValueError(f"should have at least {CONSENT_TEXT_MIN_LENGTH} characters besides spaces around them")
        return value

    @field_validator("jornaya_leadid")
    @classmethod
    def _leadid(cls, value: str | None) -> str | None:
        # Refused rather than trimmed: a trimmed id would not be the one Jornaya issued and the vendor sent.
        if value is None:
            return None
        if value != value.strip():
            raise ValueError("should not start or end with a space: the LeadiD is kept as sent")
        # Its form alone: whether Jornaya issued it only Jornaya's API can say, which this api does not call.
        if not JORNAYA_LEADID.fullmatch(value):
            raise ValueError(f"should be a Jornaya LeadiD: {JORNAYA_LEADID_FORM}")
        return value


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
    coverage_start: Annotated[date, AfterValidator(_coverage_start)] | None = Field(
        None, description="From 1 year before the lead is received to 2 years after."
    )
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
    notes: str | None = Field(None, max_length=2000, description="Line breaks and tabs are kept.")
    multiline_fields = frozenset({"notes"})

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
    return_by: datetime | None = Field(
        None,
        description="Until when this offer's agent may return the lead (the return window from their "
        "acceptance); none unless the offer is accepted, nor once its agent quoted, converted or lost the lead.",
    )
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
