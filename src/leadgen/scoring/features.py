"""Feature engineering for the scoring model: a stored lead row in, a numeric vector out.

Features come in named groups (line, source, renewal, driving record, ...). A group turns into
one factor of the explanation, so its features must stay contiguous. Three kinds of value:

- general features (every lead): one-hot categories and flags, centred on their training mean
  when contributions are computed, so a factor says how this lead differs from the average one;
- per-line features (only for leads of that line): centred on the mean among that line's
  training leads and zero for other lines, so a home lead never carries a "driving record";
- unknowns: a whole group the row does not describe (no ``received_at``, no details, a line
  we never trained on) takes the average value and so contributes exactly nothing; a single
  missing number inside a known group (roof age, face amount) takes its line's mean.

Everything here is pure and uses numpy only; scikit-learn never runs at inference.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from leadgen.kit.numbers import finite_number
from leadgen.leads.geography import STATES, timezone_for_state

LINES = ("auto", "home", "life", "health", "commercial")
# Home insurers have been leaving these states (wildfire, hurricane, litigation): cover is
# scarce and dear, so fewer home shoppers end up buying.
HARD_PROPERTY_MARKETS = frozenset({"FL", "CA", "LA"})
NAN = float("nan")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Values = dict[str, float]

# The agency's call-back schedule, in the lead's local time. When a lead arrives matters because of
# how long it then waits for a first call (speed to contact, docs/SCORING.md): weekdays 8:00-18:00
# the office calls within minutes, 18:00-21:00 an evening desk within the hour, Saturdays
# 9:00-14:00 a weekend desk reaches half the leads; everyone else waits until call-backs resume at
# 8:30 on the next weekday. The typical minutes are those of the history the model learns from.
OFFICE_HOURS = range(8, 18)
EVENING_DESK_HOURS = range(18, 21)
WEEKEND_DESK_HOURS = range(9, 14)  # Saturdays
CALL_BACKS_RESUME = time(8, 30)
OFFICE_WAIT_MINUTES = 10.0
EVENING_DESK_WAIT_MINUTES = 35.0
WEEKEND_DESK_WAIT_MINUTES = 45.0
WEEKEND_DESK_REACHES = 0.5  # the share of its hours' leads the weekend desk calls
WAIT_AFTER_RESUMING_MINUTES = 15.0  # the queue of the night's leads, once call-backs resume
DESK_HOURS_TEXTS = {"office": "office hours", "evening": "evening desk hours", "weekend": "weekend desk hours"}


def desk_for(local: datetime) -> str | None:
    """Who calls a lead received at this local time: "office", "evening" or "weekend" desk, or None
    (nobody until call-backs resume)."""
    day, hour = local.weekday(), local.hour
    if day < 5 and hour in OFFICE_HOURS:
        return "office"
    if day < 5 and hour in EVENING_DESK_HOURS:
        return "evening"
    if day == 5 and hour in WEEKEND_DESK_HOURS:
        return "weekend"
    return None


def call_backs_resume(local: datetime) -> datetime:
    """The next weekday 8:30 after ``local``, in the same time zone (wall-clock time)."""
    resume = datetime.combine(local.date(), CALL_BACKS_RESUME, local.tzinfo)
    if local >= resume:
        resume += timedelta(days=1)
    while resume.weekday() >= 5:
        resume += timedelta(days=1)
    return resume


def wait_doublings(local: datetime) -> float:
    """How many times a lead received at this local time typically doubles its wait for a first
    call beyond 5 minutes, ``log2(1 + minutes / 5)``: each doubling costs it the same."""
    desk = desk_for(local)
    if desk == "office":
        return math.log2(1 + OFFICE_WAIT_MINUTES / 5)
    if desk == "evening":
        return math.log2(1 + EVENING_DESK_WAIT_MINUTES / 5)
    minutes = (call_backs_resume(local) - local).total_seconds() / 60 + WAIT_AFTER_RESUMING_MINUTES
    after_hours = math.log2(1 + minutes / 5)
    if desk == "weekend":
        desk_call = math.log2(1 + WEEKEND_DESK_WAIT_MINUTES / 5)
        return WEEKEND_DESK_REACHES * desk_call + (1 - WEEKEND_DESK_REACHES) * after_hours
    return after_hours


def in_open_enrollment(day: date) -> bool:
    """ACA open enrollment, 1 November to 15 January (healthcare.gov)."""
    return (day.month, day.day) >= (11, 1) or (day.month, day.day) <= (1, 15)


def in_medicare_aep(day: date) -> bool:
    """Medicare's annual enrollment period, 15 October to 7 December."""
    return (10, 15) <= (day.month, day.day) <= (12, 7)


@dataclass(frozen=True)
class LeadFacts:
    """What the features read from a stored lead row, parsed once and forgivingly."""

    line: str | None
    source: str | None
    state: str | None
    phone: bool
    email: bool
    street: bool
    insured: bool | None
    days_to_expiry: int | None
    local: datetime | None  # received-at in the lead's own time zone
    reference: date  # the day the lead arrived (expiry and calendars count from it)
    consent: bool | None
    details: Mapping[str, Any]


def parse_lead(row: Mapping[str, Any], now: datetime | None = None) -> LeadFacts:
    """Read a lead row; ``now`` stands in for ``received_at`` when the row has none."""
    state = row.get("state")
    state = state.upper() if isinstance(state, str) and state.upper() in STATES else None
    received = row.get("received_at")
    if isinstance(received, str):
        try:
            received = datetime.fromisoformat(received)
        except ValueError:
            received = None
    local = None
    if isinstance(received, datetime):
        aware = received if received.tzinfo is not None else received.replace(tzinfo=UTC)
        local = aware.astimezone(ZoneInfo(timezone_for_state(state))) if state else aware
        reference = local.date()
    else:
        reference = (now or datetime.now(UTC)).date()
    expires = _as_date(row.get("policy_expires_on"))
    insured = row.get("currently_insured")
    consent = row.get("consent_verified")
    details = row.get("details")
    source = row.get("source")
    return LeadFacts(
        line=row.get("line") if row.get("line") in LINES else None,
        source=source if isinstance(source, str) and source else None,
        state=state,
        phone=bool(row.get("phone")),
        email=bool(row.get("email")),
        street=bool(row.get("street")),
        insured=insured if isinstance(insured, bool) else None,
        days_to_expiry=(expires - reference).days if expires else None,
        local=local if state else None,  # without a state we cannot know the lead's local hour
        reference=reference,
        consent=consent if isinstance(consent, bool) else None,
        details=details if isinstance(details, Mapping) else {},
    )


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _number(details: Mapping[str, Any], key: str) -> float | None:
    """A finite number, else None: NaN, infinity and integers beyond a float's range count as not given."""
    return finite_number(details.get(key))


def _count(record: Mapping[str, Any], key: str) -> int:
    number = _number(record, key)
    return int(number) if number is not None and number > 0 else 0


def _records(details: Mapping[str, Any], key: str) -> list[Mapping[str, Any]] | None:
    value = details.get(key)
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, Mapping)]


@dataclass(frozen=True)
class Group:
    """Features that explain together as one factor."""

    name: str
    features: tuple[str, ...]
    encode: Callable[[LeadFacts], Values | None]  # None: the row does not describe this group
    describe: Callable[[LeadFacts], str]
    line: str | None = None  # per-line group: only leads of this line have these features
    # Drawn from the lead's details (its health, driving record, property): shown whole only to a
    # reader of the lead who may know them (``leads.visibility.score_factors_for_agent``).
    from_details: bool = False


def _details_group(
    name: str,
    features: tuple[str, ...],
    encode: Callable[[LeadFacts], Values | None],
    describe: Callable[[LeadFacts], str],
    line: str,
) -> Group:
    """A per-line group drawn from the lead's details."""
    return Group(name, features, encode, describe, line, from_details=True)


# --- general groups -----------------------------------------------------------------------


def _line_group() -> Group:
    def encode(f: LeadFacts) -> Values | None:
        return {f"line={f.line}": 1.0} if f.line else None

    return Group(
        "line",
        tuple(f"line={x}" for x in LINES),
        encode,
        lambda f: f"{f.line} insurance lead" if f.line else "unknown line (scored as average)",
    )


def _category_group(
    name: str, levels: Sequence[str], get: Callable[[LeadFacts], str | None], describe: Callable[[LeadFacts], str]
) -> Group:
    known = frozenset(levels)

    def encode(f: LeadFacts) -> Values | None:
        value = get(f)
        if value is None:
            return None
        return {f"{name}={value if value in known else 'other'}": 1.0}

    return Group(name, (*(f"{name}={x}" for x in levels), f"{name}=other"), encode, describe)


def _source_text(levels: frozenset[str]) -> Callable[[LeadFacts], str]:
    def describe(f: LeadFacts) -> str:
        if f.source is None:
            return "source not given (scored as average)"
        return f"source {f.source}" + ("" if f.source in levels else " (small or new source)")

    return describe


def _reach_group() -> Group:
    def encode(f: LeadFacts) -> Values:
        return {"phone": float(f.phone), "email": float(f.email), "phone_and_email": float(f.phone and f.email)}

    def describe(f: LeadFacts) -> str:
        if f.phone and f.email:
            return "phone and e-mail given"
        if f.phone or f.email:
            return "phone only, no e-mail" if f.phone else "e-mail only, no phone"
        return "no phone or e-mail"

    return Group("reach", ("phone", "email", "phone_and_email"), encode, describe)


def _address_group() -> Group:
    return Group(
        "address",
        ("street",),
        lambda f: {"street": float(f.street)},
        lambda f: "full street address" if f.street else "no street address",
    )


def _insured_group() -> Group:
    def encode(f: LeadFacts) -> Values:
        return {"insured=yes": float(f.insured is True), "insured=no": float(f.insured is False)}

    texts = {True: "currently insured", False: "not currently insured", None: "insurance status not given"}
    return Group("insured", ("insured=yes", "insured=no"), encode, lambda f: texts[f.insured])


def _renewal_group() -> Group:
    def encode(f: LeadFacts) -> Values:
        d = f.days_to_expiry
        if d is None:
            return {}
        soon, next_month = 0 <= d <= 30, 30 < d <= 60
        return {
            "lapsed": float(d < 0),
            "expires_0_30": float(soon),
            "expires_31_60": float(next_month),
            "expires_61_120": float(60 < d <= 120),
            "insured_expires_0_30": float(soon and f.insured is True),
            "insured_expires_31_60": float(next_month and f.insured is True),
        }

    def describe(f: LeadFacts) -> str:
        d = f.days_to_expiry
        if d is None:
            return "no renewal date given"
        if d < 0:
            return f"current policy lapsed {-d} days ago"
        return f"current policy expires in {d} days"

    features = (
        "lapsed",
        "expires_0_30",
        "expires_31_60",
        "expires_61_120",
        "insured_expires_0_30",
        "insured_expires_31_60",
    )
    return Group("renewal", features, encode, describe)


def _timing_group(sources: Sequence[str], means: Mapping[str, float]) -> Group:
    """When the lead arrived, read as how long it waits for a first call: every doubling of the
    wait costs the same (``log2(1 + minutes / 5)``), and how much it costs is learned per source
    (a live transfer is a call already in progress, whenever it comes).

    A lead without a source pays the average source's cost of its own wait: each source's
    feature gets the wait times that source's share of the training leads' waits (the ratio of
    the two training means). Before the means are learned (fitting), it is unknown (NaN)."""
    known = frozenset(sources)
    by_source = tuple(f"wait_doublings&source={s}" for s in (*sources, "other"))
    average_wait = means.get("wait_doublings", 0.0)
    source_shares = {name: means.get(name, 0.0) / average_wait for name in by_source} if average_wait > 0 else None

    def encode(f: LeadFacts) -> Values | None:
        if f.local is None:
            return None
        doublings = wait_doublings(f.local)
        out = {
            "hour_0_5": float(f.local.hour < 6),  # the small hours: more bots and idle browsing
            # Half the Saturday-morning leads are called within the hour, half on Monday: together
            # they convert more than a lead that waits their average doublings would.
            "saturday_desk": float(desk_for(f.local) == "weekend"),
            "wait_doublings": doublings,
        }
        if f.source is None:
            if source_shares is None:
                out.update(dict.fromkeys(by_source, NAN))
            else:
                out.update((name, doublings * share) for name, share in source_shares.items())
        else:
            out[f"wait_doublings&source={f.source if f.source in known else 'other'}"] = doublings
        return out

    def describe(f: LeadFacts) -> str:
        if f.local is None:
            return "time received unknown"
        received = f"received {WEEKDAYS[f.local.weekday()]} {f.local:%H:%M} local time"
        desk = desk_for(f.local)
        if desk is not None:
            return f"{received}, {DESK_HOURS_TEXTS[desk]}"
        resume = call_backs_resume(f.local)
        return (
            f"{received}, after hours: call-backs resume {WEEKDAYS[resume.weekday()]} "
            f"{resume:%H:%M} (in {_duration((resume - f.local).total_seconds() / 60)})"
        )

    return Group("timing", ("hour_0_5", "saturday_desk", "wait_doublings", *by_source), encode, describe)


def _duration(minutes: float) -> str:
    return f"{round(minutes)} min" if minutes < 90 else f"{round(minutes / 60)} h"


def _consent_group(sources: Sequence[str]) -> Group:
    known = frozenset(sources)

    def encode(f: LeadFacts) -> Values | None:
        if f.consent is None:
            return None
        if f.consent:
            return {}
        out = {"no_certificate": 1.0}
        if f.source is not None:
            out[f"no_certificate&source={f.source if f.source in known else 'other'}"] = 1.0
        return out

    def describe(f: LeadFacts) -> str:
        if f.consent is None:
            return "consent certificate: not known"
        return (
            "consent certificate attached" if f.consent else f"no consent certificate ({f.source or 'unknown source'})"
        )

    features = ("no_certificate", *(f"no_certificate&source={s}" for s in (*sources, "other")))
    return Group("consent", features, encode, describe)


# --- per-line groups ----------------------------------------------------------------------


def _auto_groups() -> list[Group]:
    def record(f: LeadFacts) -> Values | None:
        drivers = _records(f.details, "drivers")
        if not drivers:
            return None
        incidents = sum(_count(d, "incidents_last_5_years") for d in drivers)
        sr22 = any(bool(d.get("sr22_required")) for d in drivers)
        state_minimum = f.details.get("coverage_tier") == "state_minimum"
        return {
            "incidents": float(min(5, incidents)),
            "sr22": float(sr22),
            "sr22&state_minimum": float(sr22 and state_minimum),
        }

    def record_text(f: LeadFacts) -> str:
        drivers = _records(f.details, "drivers") or []
        incidents = sum(_count(d, "incidents_last_5_years") for d in drivers)
        text = "clean driving record" if incidents == 0 else f"{incidents} incident{'s' * (incidents != 1)} in 5 years"
        return text + (", SR-22 filing required" if any(d.get("sr22_required") for d in drivers) else "")

    def policy(f: LeadFacts) -> Values | None:
        vehicles, tier = _records(f.details, "vehicles"), f.details.get("coverage_tier")
        if vehicles is None and tier is None:
            return None
        return {
            "tier=state_minimum": float(tier == "state_minimum"),
            "tier=premium": float(tier == "premium"),
            "vehicles_2_plus": NAN if vehicles is None else float(len(vehicles) >= 2),
        }

    def policy_text(f: LeadFacts) -> str:
        tier = str(f.details.get("coverage_tier") or "standard").replace("_", " ")
        vehicles = len(_records(f.details, "vehicles") or [])
        return f"{tier} coverage, {vehicles} vehicle{'s' * (vehicles != 1)}"

    return [
        _details_group("driving_record", ("incidents", "sr22", "sr22&state_minimum"), record, record_text, "auto"),
        _details_group(
            "auto_policy", ("tier=state_minimum", "tier=premium", "vehicles_2_plus"), policy, policy_text, "auto"
        ),
    ]


def _home_groups() -> list[Group]:
    def prop(f: LeadFacts) -> Values | None:
        roof, built, dwelling = (_number(f.details, k) for k in ("roof_age_years", "year_built", "dwelling_coverage"))
        if roof is None and built is None and dwelling is None:
            return None
        return {
            "roof_over_20": float(roof is not None and roof > 20),
            "roof_16_20": float(roof is not None and 15 < roof <= 20),
            "roof_unknown": float(roof is None),
            "built_before_1950": NAN if built is None else float(built < 1950),
            "dwelling_500k_plus": NAN if dwelling is None else float(dwelling >= 500_000),
            "log10_dwelling": NAN if not dwelling or dwelling <= 0 else math.log10(dwelling),
        }

    def prop_text(f: LeadFacts) -> str:
        roof, built = _number(f.details, "roof_age_years"), _number(f.details, "year_built")
        parts = ["roof age not given" if roof is None else f"roof {int(roof)} years old"]
        if built is not None:
            parts.append(f"built {int(built)}")
        dwelling = _number(f.details, "dwelling_coverage")
        if dwelling is not None:
            parts.append(f"${dwelling:,.0f} dwelling cover")
        return ", ".join(parts)

    def claims(f: LeadFacts) -> Values | None:
        n = _number(f.details, "claims_last_5_years")
        return None if n is None else {"claims": float(min(4.0, n))}

    def claims_text(f: LeadFacts) -> str:
        n = int(_number(f.details, "claims_last_5_years") or 0)
        return "no claims in 5 years" if n == 0 else f"{n} claim{'s' * (n != 1)} in 5 years"

    def market(f: LeadFacts) -> Values | None:
        return None if f.state is None else {"hard_property_market": float(f.state in HARD_PROPERTY_MARKETS)}

    def market_text(f: LeadFacts) -> str:
        if f.state in HARD_PROPERTY_MARKETS:
            return f"home in a hard property market ({f.state})"
        return f"home in {f.state or 'an unknown state'}"

    features = (
        "roof_over_20",
        "roof_16_20",
        "roof_unknown",
        "built_before_1950",
        "dwelling_500k_plus",
        "log10_dwelling",
    )
    return [
        _details_group("property", features, prop, prop_text, "home"),
        _details_group("claims", ("claims",), claims, claims_text, "home"),
        Group("property_market", ("hard_property_market",), market, market_text, "home"),  # the state alone
    ]


def _life_groups() -> list[Group]:
    def risk(f: LeadFacts) -> Values | None:
        tobacco = f.details.get("tobacco")
        height, weight = _number(f.details, "height_inches"), _number(f.details, "weight_pounds")
        if not isinstance(tobacco, bool) and (height is None or weight is None):
            return None
        bmi = 703 * weight / (height * height) if height and weight else None  # ** raises on overflow
        final_expense = f.details.get("product") == "final_expense"
        smoker = NAN if not isinstance(tobacco, bool) else float(tobacco)
        return {
            "tobacco": smoker,
            "tobacco&final_expense": NAN if math.isnan(smoker) else smoker * final_expense,
            "bmi_over_35": NAN if bmi is None else float(bmi > 35),
        }

    def risk_text(f: LeadFacts) -> str:
        # Only the bands the features use, never the person's own figures (their BMI).
        tobacco = f.details.get("tobacco")
        if isinstance(tobacco, bool):
            parts = ["tobacco use" if tobacco else "no tobacco use"]
        else:
            parts = ["tobacco use not given"]
        height, weight = _number(f.details, "height_inches"), _number(f.details, "weight_pounds")
        if height and weight:
            parts.append("BMI over 35" if 703 * weight / (height * height) > 35 else "BMI 35 or under")
        return ", ".join(parts) + (" (final expense)" if f.details.get("product") == "final_expense" else "")

    def policy(f: LeadFacts) -> Values | None:
        product, face = f.details.get("product"), _number(f.details, "face_amount")
        if product is None and face is None:
            return None
        return {
            "product=whole": float(product == "whole"),
            "product=final_expense": float(product == "final_expense"),
            "term_250k_1m": NAN if face is None else float(product in (None, "term") and 250_000 <= face <= 1_000_000),
            "face_over_2m": NAN if face is None else float(face > 2_000_000),
            "log10_face": NAN if not face or face <= 0 else math.log10(face),
        }

    def policy_text(f: LeadFacts) -> str:
        product = str(f.details.get("product") or "term").replace("_", " ")
        face = _number(f.details, "face_amount")
        return f"{product} life" + ("" if face is None else f", ${face:,.0f} face amount")

    features = ("product=whole", "product=final_expense", "term_250k_1m", "face_over_2m", "log10_face")
    return [
        _details_group("life_risk", ("tobacco", "tobacco&final_expense", "bmi_over_35"), risk, risk_text, "life"),
        _details_group("life_policy", features, policy, policy_text, "life"),
    ]


def _self_age(details: Mapping[str, Any]) -> float | None:
    for member in _records(details, "household") or []:
        if member.get("relationship") == "self" and isinstance(member.get("age"), int):
            return _number(member, "age")
    return None


def _health_groups() -> list[Group]:
    def window(f: LeadFacts) -> Values | None:
        if "qualifying_event" not in f.details and "medicare_interest" not in f.details:
            return None
        if f.details.get("medicare_interest"):
            return {"open_enrollment": 0.0, "event_outside_enrollment": 0.0}
        open_now = in_open_enrollment(f.reference)
        return {
            "open_enrollment": float(open_now),
            "event_outside_enrollment": float(bool(f.details.get("qualifying_event")) and not open_now),
        }

    def window_text(f: LeadFacts) -> str:
        if f.details.get("medicare_interest"):
            return "Medicare lead (ACA enrollment calendar does not apply)"
        if in_open_enrollment(f.reference):
            return "received during ACA open enrollment"
        # The event is the person's own words (the lead's details show them): a reason kept with
        # the score must not quote them.
        return (
            "qualifying life event outside open enrollment"
            if f.details.get("qualifying_event")
            else "outside open enrollment, no qualifying event"
        )

    def medicare(f: LeadFacts) -> Values | None:
        interest = f.details.get("medicare_interest")
        if not isinstance(interest, bool):
            return None
        age = _self_age(f.details)
        return {
            "medicare": float(interest),
            "medicare_aep": float(interest and in_medicare_aep(f.reference)),
            "medicare_turning_65": NAN if age is None else float(interest and 64 <= age <= 65),
        }

    def medicare_text(f: LeadFacts) -> str:
        if not f.details.get("medicare_interest"):
            return "no Medicare interest"
        aep = in_medicare_aep(f.reference)
        return "Medicare interest" + (
            " during the annual enrollment period" if aep else " outside the annual enrollment period"
        )

    return [
        _details_group(
            "enrollment_window", ("open_enrollment", "event_outside_enrollment"), window, window_text, "health"
        ),
        _details_group(
            "medicare", ("medicare", "medicare_aep", "medicare_turning_65"), medicare, medicare_text, "health"
        ),
    ]


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _coverages_wanted(details: Mapping[str, Any]) -> int | None:
    """How many different coverages the business asks for (None: not given). The list is free text:
    the same coverage named twice, in another case or spacing, is still one."""
    coverages = details.get("coverages")
    if not isinstance(coverages, list):
        return None
    return len({" ".join(c.split()).casefold() for c in coverages if isinstance(c, str) and c.strip()})


def _commercial_groups() -> list[Group]:
    def business(f: LeadFacts) -> Values | None:
        years, employees = _number(f.details, "years_in_business"), _number(f.details, "employees")
        coverages = _coverages_wanted(f.details)
        if years is None and employees is None:
            return None
        return {
            "new_business": NAN if years is None else float(years < 1),
            "established_3y": NAN if years is None else float(years >= 3),
            "log10_employees": NAN if employees is None else math.log10(1 + max(0.0, employees)),
            "coverages_3_plus": NAN if coverages is None else float(coverages >= 3),
        }

    def business_text(f: LeadFacts) -> str:
        years, employees = _number(f.details, "years_in_business"), _number(f.details, "employees")
        coverages = _coverages_wanted(f.details)
        parts = [] if years is None else [_counted(int(years), "year") + " in business"]
        parts += [] if employees is None else [_counted(int(employees), "employee")]
        parts += [] if coverages is None else [_counted(coverages, "coverage") + " wanted"]
        return ", ".join(parts) or "business details not given"

    features = ("new_business", "established_3y", "log10_employees", "coverages_3_plus")
    return [_details_group("business", features, business, business_text, "commercial")]


def build_groups(
    sources: Sequence[str], states: Sequence[str], means: Mapping[str, float] | None = None
) -> list[Group]:
    """The groups, in a fixed order; ``sources`` and ``states`` are the levels learned in training,
    ``means`` the general features' training means (none while fitting)."""
    known_sources = frozenset(sources)
    return [
        _line_group(),
        _category_group("source", sources, lambda f: f.source, _source_text(known_sources)),
        _category_group(
            "state", states, lambda f: f.state, lambda f: f"state {f.state}" if f.state else "state unknown"
        ),
        _reach_group(),
        _address_group(),
        _insured_group(),
        _renewal_group(),
        _timing_group(sources, means or {}),
        _consent_group(sources),
        *_auto_groups(),
        *_home_groups(),
        *_life_groups(),
        *_health_groups(),
        *_commercial_groups(),
    ]


class Featurizer:
    """Rows to vectors with the levels and means learned from a training history."""

    def __init__(
        self,
        sources: Sequence[str],
        states: Sequence[str],
        line_means: Mapping[str, float] | None = None,
        means: Mapping[str, float] | None = None,
    ) -> None:
        self.sources, self.states = list(sources), list(states)
        self.groups = build_groups(self.sources, self.states, means)
        self.names = [name for g in self.groups for name in g.features]
        self.index = {name: i for i, name in enumerate(self.names)}
        if len(self.index) != len(self.names):
            raise ValueError("feature names must be unique")
        self.starts = np.cumsum([0] + [len(g.features) for g in self.groups[:-1]])
        self.slices = [slice(s, s + len(g.features)) for s, g in zip(self.starts.tolist(), self.groups, strict=True)]
        self.per_line = np.array([g.line is not None for g in self.groups for _ in g.features])
        self.line_masks = {line: np.array([g.line == line for g in self.groups for _ in g.features]) for line in LINES}
        line_means = line_means or {}
        means = means or {}
        self.line_means = np.array([line_means.get(n, 0.0) for n in self.names])
        # Means of general features (centre of the explanations); zero for per-line ones by construction.
        self.means = np.array(
            [0.0 if pl else means.get(n, 0.0) for n, pl in zip(self.names, self.per_line, strict=True)]
        )
        self.fill = np.where(self.per_line, self.line_means, self.means)  # what an unknown value becomes
        self._line_means: list[float] = self.line_means.tolist()
        self._means: list[float] = self.means.tolist()

    @classmethod
    def fit(cls, rows: Iterable[Mapping[str, Any]]) -> Featurizer:
        return cls.fit_facts([parse_lead(r) for r in rows])

    @classmethod
    def fit_facts(
        cls, facts: Sequence[LeadFacts], min_source_share: float = 0.02, min_state_share: float = 0.005
    ) -> Featurizer:
        """Learn category levels (too-rare ones pool into "other") and the centring means."""
        n = len(facts)
        sources = sorted(
            s for s, c in Counter(f.source for f in facts if f.source).items() if c >= min_source_share * n
        )
        states = sorted(s for s, c in Counter(f.state for f in facts if f.state).items() if c >= min_state_share * n)
        draft = cls(sources, states)
        raw = np.array([draft.raw(f) for f in facts])
        lines = np.array([f.line or "" for f in facts])
        line_means: dict[str, float] = {}
        means: dict[str, float] = {}
        with np.errstate(all="ignore"):
            for g, sl in zip(draft.groups, draft.slices, strict=True):
                mask = lines == g.line if g.line else np.ones(n, dtype=bool)
                block = raw[mask, sl]
                avg = np.nanmean(block, axis=0) if block.size else np.zeros(len(g.features))
                target = line_means if g.line else means
                target.update(
                    (name, float(v) if np.isfinite(v) else 0.0) for name, v in zip(g.features, avg, strict=True)
                )
        return cls(sources, states, line_means, means)

    def raw(self, facts: LeadFacts) -> NDArray[np.float64]:
        """Uncentred values; NaN where the row does not say (a whole unknown group, or one number)."""
        x = [0.0] * len(self.names)  # a list, then one array: numpy item assignment is slow
        index = self.index
        for g, sl in zip(self.groups, self.slices, strict=True):
            if g.line is not None and g.line != facts.line:
                continue
            values = g.encode(facts)
            if values is None:
                x[sl] = [NAN] * (sl.stop - sl.start)
                continue
            for name, value in values.items():
                x[index[name]] = value
        return np.array(x)

    def transform(self, facts: LeadFacts) -> NDArray[np.float64]:
        """The model's input vector: ``raw`` with unknowns filled by their means and per-line features
        centred on their line's mean (so an unknown per-line value is exactly 0). Written as one pass
        over Python lists because it runs for every lead; ``transform_slow`` is the same in numpy."""
        x = [0.0] * len(self.names)
        index, line_means, means = self.index, self._line_means, self._means
        for g, sl in zip(self.groups, self.slices, strict=True):
            if g.line is not None and g.line != facts.line:
                continue
            values = g.encode(facts)
            if g.line is None:
                if values is None:
                    x[sl] = means[sl]
                    continue
                for name, value in values.items():
                    i = index[name]
                    x[i] = means[i] if value != value else value  # NaN != NaN
            elif values is not None:
                x[sl] = [-m for m in line_means[sl]]
                for name, value in values.items():
                    i = index[name]
                    x[i] = 0.0 if value != value else value - line_means[i]
        return np.array(x)

    def transform_slow(self, facts: LeadFacts) -> NDArray[np.float64]:
        """``transform`` spelled out with numpy (the reference the tests hold it to)."""
        x = self.raw(facts)
        gaps = np.isnan(x)
        x[gaps] = self.fill[gaps]
        if facts.line is not None:
            own = self.line_masks[facts.line]
            x[own] -= self.line_means[own]
        return x

    def to_dict(self) -> dict[str, Any]:
        general = {n: float(v) for n, v, pl in zip(self.names, self.means, self.per_line, strict=True) if not pl}
        per_line = {n: float(v) for n, v, pl in zip(self.names, self.line_means, self.per_line, strict=True) if pl}
        return {
            "sources": self.sources,
            "states": self.states,
            "names": self.names,
            "means": general,
            "line_means": per_line,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Featurizer:
        out = cls(data["sources"], data["states"], data["line_means"], data["means"])
        if out.names != list(data["names"]):
            raise ValueError("the model file's features do not match this version's feature code")
        return out
