"""A synthetic but realistic lead history: the training data of the scoring model.

No agency's real outcomes ship with the project, so ``leadgen model train`` learns from a world
this module simulates. Every lead is a row exactly as the pipeline stores it (the dict
``LeadScoreModel.score`` receives) plus what happened afterwards: how many minutes until an
agent reached the person, and whether the lead converted.

The world is fixed; the seed only decides which leads are drawn from it, so one seed always
gives the same history (``numpy.random.default_rng`` with PCG64 is reproducible across
platforms and numpy versions for the calls used here). The effects are additive on the
log-odds of converting, listed in docs/SCORING.md with their reasons. Some of them the rules
score reads (phone, insured, expiry soon), some it reads with the wrong weight (roof age,
incidents), and some it cannot see at all: vendor quality, time of day (through the speed to
contact it causes), state, and the interactions (an insured shopper at renewal, a missing
consent certificate on a poor vendor's lead, SR-22 with state-minimum cover, tobacco for final
expense, the health enrolment calendar).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from leadgen.leads.geography import timezone_for_state
from leadgen.scoring.features import (
    EVENING_DESK_WAIT_MINUTES,
    HARD_PROPERTY_MARKETS,
    OFFICE_WAIT_MINUTES,
    WAIT_AFTER_RESUMING_MINUTES,
    WEEKEND_DESK_REACHES,
    WEEKEND_DESK_WAIT_MINUTES,
    call_backs_resume,
    desk_for,
    in_medicare_aep,
    in_open_enrollment,
)

DEFAULT_SEED = 2026
DEFAULT_ROWS = 60_000
GENERATOR = "synthetic-history-v1"
YEAR = 2025  # the simulated leads arrive during this calendar year


@dataclass(frozen=True)
class SourceProfile:
    """A lead source: its share of volume and how its leads behave."""

    name: str
    kind: str  # web (our own form), referral, vendor, transfer (live call transfer)
    share: float
    effect: float  # log-odds of converting, against an average source
    certificate_rate: float  # share of leads with a TrustedForm/Jornaya certificate
    phone_rate: float
    email_rate: float
    street_rate: float
    no_certificate_effect: float  # extra log-odds when the certificate is missing


def _vendor(name: str, effect: float) -> SourceProfile:
    return SourceProfile(name, "vendor", 0.01, effect, 0.70, 0.86, 0.78, 0.55, -0.70)


SOURCES: tuple[SourceProfile, ...] = (
    # Own web form and referrals: people who came to the agency themselves; no certificate needed.
    SourceProfile("web-form", "web", 0.16, 0.30, 0.55, 0.85, 0.95, 0.75, 0.0),
    SourceProfile("agent-referrals", "referral", 0.05, 0.90, 0.05, 0.97, 0.70, 0.80, 0.0),
    SourceProfile("acme-leads", "vendor", 0.20, 0.00, 0.85, 0.92, 0.85, 0.70, -0.35),
    SourceProfile("quickquote-network", "vendor", 0.14, 0.15, 0.92, 0.93, 0.88, 0.72, -0.35),
    SourceProfile("bluesky-media", "vendor", 0.14, -0.15, 0.80, 0.88, 0.80, 0.60, -0.50),
    # Poor vendors: without a certificate, their leads are often recycled or made up.
    SourceProfile("leadharbor", "vendor", 0.10, -0.30, 0.70, 0.85, 0.75, 0.55, -0.90),
    SourceProfile("aged-lead-exchange", "vendor", 0.06, -0.70, 0.45, 0.90, 0.80, 0.60, -0.90),
    SourceProfile("live-transfer-partners", "transfer", 0.05, 0.60, 0.90, 1.00, 0.60, 0.50, -0.35),
    # A long tail of small vendors, each too small for the model to learn on its own.
    *(_vendor(f"vendor-{i:02d}", e) for i, e in enumerate((-0.5, -0.3, -0.2, -0.1, 0.0, 0.0, 0.1, 0.2, -0.4, 0.1), 1)),
)

LINE_SHARES = {"auto": 0.40, "home": 0.22, "life": 0.14, "health": 0.16, "commercial": 0.08}
LINE_BASE = {"auto": -2.50, "home": -2.40, "life": -2.80, "health": -2.45, "commercial": -2.60}

# Approximate 2020 census populations (millions): leads arrive in proportion.
STATE_POPULATION = {
    "CA": 39.5,
    "TX": 29.1,
    "FL": 21.5,
    "NY": 20.2,
    "PA": 13.0,
    "IL": 12.8,
    "OH": 11.8,
    "GA": 10.7,
    "NC": 10.4,
    "MI": 10.1,
    "NJ": 9.3,
    "VA": 8.6,
    "WA": 7.7,
    "AZ": 7.2,
    "MA": 7.0,
    "TN": 6.9,
    "IN": 6.8,
    "MD": 6.2,
    "MO": 6.2,
    "WI": 5.9,
    "CO": 5.8,
    "MN": 5.7,
    "SC": 5.1,
    "AL": 5.0,
    "LA": 4.7,
    "KY": 4.5,
    "OR": 4.2,
    "OK": 4.0,
    "CT": 3.6,
    "UT": 3.3,
    "IA": 3.2,
    "NV": 3.1,
    "AR": 3.0,
    "MS": 3.0,
    "KS": 2.9,
    "NM": 2.1,
    "NE": 2.0,
    "ID": 1.8,
    "WV": 1.8,
    "HI": 1.5,
    "NH": 1.4,
    "ME": 1.4,
    "RI": 1.1,
    "MT": 1.1,
    "DE": 1.0,
    "SD": 0.9,
    "ND": 0.8,
    "AK": 0.7,
    "DC": 0.7,
    "VT": 0.6,
    "WY": 0.6,
}
# Market conditions: competitive, cheap-to-write markets convert better; MI (no-fault auto),
# NY and FL (costly, crowded) worse.
STATE_EFFECTS = {
    "TX": 0.15,
    "OH": 0.15,
    "NC": 0.10,
    "GA": 0.05,
    "FL": -0.20,
    "NY": -0.20,
    "MI": -0.25,
    "NJ": -0.10,
    "CA": -0.10,
}
# Relative volume of leads by local hour of day (people fill in forms at lunch and after dinner).
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 6, 8, 10, 11, 12, 12, 11, 10, 9, 9, 9, 10, 11, 10, 8, 5, 3)
QUALIFYING_EVENTS = ("job loss", "marriage", "birth of a child", "moved", "lost employer coverage")
COVERAGES = ("general_liability", "property", "workers_comp", "commercial_auto", "professional", "cyber")
MAKES = (("Toyota", "Camry"), ("Honda", "Civic"), ("Ford", "F-150"), ("Chevrolet", "Malibu"), ("Tesla", "Model 3"))


@dataclass
class History:
    """Generated leads and their outcomes, index-aligned."""

    rows: list[dict[str, Any]]
    converted: NDArray[np.bool_]
    probability: NDArray[np.float64]  # the world's true chance, including what no model sees
    contact_minutes: NDArray[np.float64]
    seed: int

    def __len__(self) -> int:
        return len(self.rows)


class _Draw:
    """Scalar draws served from blocks of one numpy Generator (block draws are ~50x cheaper than
    scalar calls); every draw comes from the stream in a fixed order, so runs are identical."""

    BLOCK = 1 << 16

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self._uniform: list[float] = []
        self._normal: list[float] = []

    def random(self) -> float:
        if not self._uniform:
            self._uniform = self.rng.random(self.BLOCK).tolist()
        return self._uniform.pop()

    def normal(self) -> float:
        if not self._normal:
            self._normal = self.rng.standard_normal(self.BLOCK).tolist()
        return self._normal.pop()

    def chance(self, p: float) -> bool:
        return self.random() < p

    def pick(self, items: tuple[Any, ...], cumulative: tuple[float, ...]) -> Any:
        return items[bisect_right(cumulative, self.random() * cumulative[-1])]

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high]."""
        return low + int(self.random() * (high - low + 1))

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(sigma * self.normal())

    def exponential(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.random())

    def poisson(self, lam: float) -> int:
        """By inversion (Knuth); fine for the small rates used here."""
        u, k, p = self.random(), 0, math.exp(-lam)
        total = p
        while u > total and k < 50:
            k += 1
            p *= lam / k
            total += p
        return k


def _cumulative(weights: list[float] | tuple[float, ...]) -> tuple[float, ...]:
    return tuple(accumulate(weights))


_SOURCE_CUM = _cumulative([s.share for s in SOURCES])
_LINES = tuple(LINE_SHARES)
_LINE_CUM = _cumulative(list(LINE_SHARES.values()))
_STATES = tuple(STATE_POPULATION)
_STATE_CUM = _cumulative(list(STATE_POPULATION.values()))
_HOURS = tuple(range(24))
_HOUR_CUM = _cumulative(HOUR_WEIGHTS)
_DAYS = tuple(date(YEAR, 1, 1) + timedelta(days=i) for i in range(365))
_DAY_CUM = _cumulative([0.7 if d.weekday() >= 5 else 1.0 for d in _DAYS])  # fewer forms at weekends


def generate(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> History:
    """``rows`` leads with outcomes; the same arguments always give the same history."""
    draw = _Draw(seed)
    out: list[dict[str, Any]] = []
    converted = np.zeros(rows, dtype=bool)
    probability = np.zeros(rows)
    minutes = np.zeros(rows)
    for i in range(rows):
        source: SourceProfile = draw.pick(SOURCES, _SOURCE_CUM)
        row, local = _lead(draw, source, i)
        minutes[i] = _minutes_to_contact(draw, source, local)
        # Who works the lead matters too, and no model sees it: agent skill, a bad line, luck.
        hidden = 0.5 * draw.normal()
        probability[i] = 1.0 / (1.0 + math.exp(-(conversion_logit(row, source, local, minutes[i]) + hidden)))
        converted[i] = draw.chance(probability[i])
        out.append(row)
    return History(out, converted, probability, minutes, seed)


def _lead(draw: _Draw, source: SourceProfile, i: int) -> tuple[dict[str, Any], datetime]:
    line: str = draw.pick(_LINES, _LINE_CUM)
    state: str = draw.pick(_STATES, _STATE_CUM)
    day: date = draw.pick(_DAYS, _DAY_CUM)
    local = datetime(
        day.year,
        day.month,
        day.day,
        draw.pick(_HOURS, _HOUR_CUM),
        draw.integer(0, 59),
        tzinfo=ZoneInfo(timezone_for_state(state)),
    )
    phone = draw.chance(source.phone_rate)
    email = not phone or draw.chance(source.email_rate)  # at least one way to reach the person
    insured: bool | None = draw.pick((True, False, None), (0.62, 0.87, 1.0))
    row: dict[str, Any] = {
        "line": line,
        "source": source.name,
        "state": state,
        "campaign": f"{line}-{source.kind}",
        "received_at": local.astimezone(UTC),
        "is_test": False,
        "phone": f"+1512555{i % 10_000:04d}" if phone else None,
        "email": f"lead{i}@example.com" if email else None,
        "street": f"{100 + i % 900} Oak Street" if draw.chance(source.street_rate) else None,
        "currently_insured": insured,
        "policy_expires_on": _expiry(draw, insured, local.date()),
        "consent_verified": draw.chance(source.certificate_rate),
        "details": _DETAILS[line](draw, source, local.date()),
    }
    return row, local


def _expiry(draw: _Draw, insured: bool | None, received: date) -> date | None:
    if insured is True and draw.chance(0.75):
        # Shoppers cluster before renewal; the rest name a date anywhere in the policy year.
        days = draw.integer(0, 45) if draw.chance(0.4) else draw.integer(46, 365)
    elif insured is None and draw.chance(0.25):
        days = draw.integer(0, 365)
    elif insured is False and draw.chance(0.30):
        days = -draw.integer(1, 60)  # a lapsed policy
    else:
        return None
    return received + timedelta(days=days)


def _auto(draw: _Draw, source: SourceProfile, received: date) -> dict[str, Any]:
    sr22 = draw.chance(0.08 if source.effect <= -0.3 else 0.04)
    drivers = [
        {
            "age_first_licensed": draw.integer(16, 25),
            "incidents_last_5_years": draw.poisson(0.35),
            "sr22_required": sr22 and n == 0,
        }
        for n in range(draw.pick((1, 2, 3, 4), (45, 80, 95, 100)))
    ]
    vehicles = []
    for _ in range(draw.pick((1, 2, 3), (50, 85, 100))):
        make, model = draw.pick(MAKES, (1, 2, 3, 4, 5))
        vehicles.append(
            {
                "year": draw.integer(2003, 2026),
                "make": make,
                "model": model,
                "use": draw.pick(("commute", "pleasure", "business"), (6, 9, 10)),
                "annual_mileage": draw.integer(3, 25) * 1000,
            }
        )
    tiers = ("state_minimum", "standard", "premium")
    tier = draw.pick(tiers, (6, 9, 10) if sr22 else (3, 8, 10))
    return {"drivers": drivers, "vehicles": vehicles, "coverage_tier": tier}


def _home(draw: _Draw, source: SourceProfile, received: date) -> dict[str, Any]:
    built = received.year - min(125, int(draw.exponential(35)))
    return {
        "year_built": built,
        "square_feet": draw.integer(8, 50) * 100,
        "construction": draw.pick(("frame", "masonry", "steel", "other"), (6, 9, 9.5, 10)),
        "roof_age_years": None if draw.chance(0.15) else draw.integer(0, min(35, received.year - built)),
        "claims_last_5_years": draw.poisson(0.25),
        "dwelling_coverage": int(min(5_000_000, max(50_000, draw.lognormal(320_000, 0.45))) // 1000 * 1000),
    }


def _life(draw: _Draw, source: SourceProfile, received: date) -> dict[str, Any]:
    height = draw.integer(60, 76)
    bmi = max(17.0, 28 + 5 * draw.normal())
    product: str = draw.pick(("term", "whole", "final_expense"), (60, 75, 100))
    if product == "term":
        face = draw.lognormal(400_000, 0.8)
    elif product == "whole":
        face = draw.lognormal(150_000, 0.7)
    else:
        face = draw.integer(5, 40) * 1000
    return {
        "height_inches": height,
        "weight_pounds": round(bmi * height * height / 703),
        "tobacco": draw.chance(0.15),
        "face_amount": int(max(5_000, face) // 1000 * 1000),
        "product": product,
        "term_years": draw.pick((10, 15, 20, 30), (1, 2, 4, 5)) if product == "term" else None,
    }


def _health(draw: _Draw, source: SourceProfile, received: date) -> dict[str, Any]:
    age = draw.integer(22, 70)
    household = [{"relationship": "self", "age": age}]
    if draw.chance(0.5):
        household.append({"relationship": "spouse", "age": max(18, age + draw.integer(-5, 5))})
    household += [
        {"relationship": "child", "age": draw.integer(0, 17)} for _ in range(draw.pick((0, 1, 2, 3), (5, 7, 9, 10)))
    ]
    event = draw.pick(QUALIFYING_EVENTS, (1, 2, 3, 4, 5)) if draw.chance(0.22) else None
    return {
        "household": household,
        "annual_income": draw.integer(15, 150) * 1000,
        "coverage_start": (received + timedelta(days=draw.integer(15, 60))).isoformat(),
        "qualifying_event": event,
        "medicare_interest": draw.chance(0.7 if age >= 63 else 0.03),
    }


def _commercial(draw: _Draw, source: SourceProfile, received: date) -> dict[str, Any]:
    employees = int(draw.lognormal(6, 1.1))
    return {
        "legal_name": "Example Business LLC",
        "entity_type": draw.pick(
            ("sole_proprietor", "llc", "corporation", "partnership", "nonprofit"), (3, 7, 9, 9.5, 10)
        ),
        "class_code": None,
        "years_in_business": int(draw.exponential(7)),
        "employees": employees,
        "annual_revenue": int(max(1, employees) * draw.lognormal(90_000, 0.5)),
        "coverages": sorted({draw.pick(COVERAGES, (4, 6, 7.5, 8.5, 9.5, 10)) for _ in range(draw.integer(1, 4))}),
    }


_DETAILS = {"auto": _auto, "home": _home, "life": _life, "health": _health, "commercial": _commercial}


def _minutes_to_contact(draw: _Draw, source: SourceProfile, local: datetime) -> float:
    """How long until an agent reaches the person: quick in office hours, next morning otherwise."""
    if source.kind == "transfer":
        return 1.0  # a live transfer is a call already in progress
    # The agency's schedule, which the model reads the time received by (``features.desk_for``).
    desk = desk_for(local)
    if desk == "office":
        return draw.lognormal(OFFICE_WAIT_MINUTES, 0.9)
    if desk == "evening":
        return draw.lognormal(EVENING_DESK_WAIT_MINUTES, 0.9)
    if desk == "weekend" and draw.chance(WEEKEND_DESK_REACHES):
        return draw.lognormal(WEEKEND_DESK_WAIT_MINUTES, 0.9)
    waited = (call_backs_resume(local) - local).total_seconds() / 60
    return waited + draw.lognormal(WAIT_AFTER_RESUMING_MINUTES, 0.8)


def conversion_logit(row: dict[str, Any], source: SourceProfile, local: datetime, minutes: float) -> float:
    """The world's log-odds that this lead converts (without the hidden agent effect)."""
    received = local.date()
    logit = LINE_BASE[row["line"]] + source.effect + STATE_EFFECTS.get(row["state"], 0.0)
    # Speed to contact: every doubling of the wait (beyond 5 minutes) costs the same.
    logit -= 0.25 * math.log2(1 + minutes / 5)
    if local.hour < 6:
        logit -= 0.20  # forms filled in the small hours: more bots and idle browsing
    phone, email = bool(row["phone"]), bool(row["email"])
    logit += 0.55 * phone + 0.10 * email + 0.15 * (phone and email) + 0.25 * bool(row["street"])
    if not row["consent_verified"]:
        logit += source.no_certificate_effect
    logit += _renewal_effect(row["currently_insured"], row["policy_expires_on"], received)
    return logit + _LINE_EFFECTS[row["line"]](row["details"], row, received)


def _renewal_effect(insured: bool | None, expires: date | None, received: date) -> float:
    effect = {True: 0.30, False: -0.15, None: 0.0}[insured]
    if expires is None:
        return effect
    days = (expires - received).days
    if days < 0:
        return effect + 0.45  # lapsed: needs cover now
    if days <= 30:
        return effect + 0.25 + (0.45 if insured else 0.0)  # shopping at renewal, with a policy to replace
    if days <= 60:
        return effect + 0.15 + (0.20 if insured else 0.0)
    return effect


def _auto_effect(d: dict[str, Any], row: dict[str, Any], received: date) -> float:
    incidents = min(5, sum(x["incidents_last_5_years"] for x in d["drivers"]))
    sr22 = any(x["sr22_required"] for x in d["drivers"])
    tier = d["coverage_tier"]
    effect: float = -0.18 * incidents + 0.25 * (len(d["vehicles"]) >= 2)
    effect += {"state_minimum": -0.15, "standard": 0.0, "premium": 0.30}[tier]
    if sr22:
        # Non-standard carriers write SR-22 filings cheaply at state minimum limits.
        effect += -0.80 + (0.60 if tier == "state_minimum" else 0.0)
    return effect


def _home_effect(d: dict[str, Any], row: dict[str, Any], received: date) -> float:
    roof = d["roof_age_years"]
    effect: float = -0.10 if roof is None else (-0.65 if roof > 20 else -0.20 if roof > 15 else 0.0)
    effect += -0.35 * min(4, d["claims_last_5_years"]) + 0.25 * (d["dwelling_coverage"] >= 500_000)
    effect += -0.25 * (d["year_built"] < 1950) - 0.50 * (row["state"] in HARD_PROPERTY_MARKETS)
    return effect


def _life_effect(d: dict[str, Any], row: dict[str, Any], received: date) -> float:
    final_expense = d["product"] == "final_expense"
    bmi = 703 * d["weight_pounds"] / d["height_inches"] ** 2
    effect: float = {"term": 0.0, "whole": -0.15, "final_expense": 0.20}[d["product"]]
    if not final_expense:  # final expense is guaranteed or simplified issue: health barely matters
        effect += -0.45 * d["tobacco"] - 0.35 * (bmi > 35)
    face = d["face_amount"]
    effect += 0.30 * (d["product"] == "term" and 250_000 <= face <= 1_000_000) - 0.40 * (face > 2_000_000)
    return effect


def _health_effect(d: dict[str, Any], row: dict[str, Any], received: date) -> float:
    self_age = next((m["age"] for m in d["household"] if m["relationship"] == "self"), 40)
    if d["medicare_interest"]:
        return -0.10 + 0.50 * in_medicare_aep(received) + 0.40 * (64 <= self_age <= 65)
    if in_open_enrollment(received):
        return 0.35  # anyone may enrol
    # Outside open enrollment only a qualifying life event opens a special enrollment period.
    return 0.90 if d["qualifying_event"] else -0.35


def _commercial_effect(d: dict[str, Any], row: dict[str, Any], received: date) -> float:
    years = d["years_in_business"]
    effect: float = -0.50 * (years < 1) + 0.20 * (years >= 3) + 0.30 * math.log10(1 + d["employees"])
    return effect + 0.25 * (len(d["coverages"]) >= 3)


_LINE_EFFECTS = {
    "auto": _auto_effect,
    "home": _home_effect,
    "life": _life_effect,
    "health": _health_effect,
    "commercial": _commercial_effect,
}
