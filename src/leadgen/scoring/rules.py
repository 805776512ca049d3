"""The transparent rules score: points a person can read, summing to 0-100."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class RuleScore:
    score: int
    factors: list[dict[str, Any]] = field(default_factory=list)

    def as_payload(self) -> dict[str, Any]:
        return {"model": "rules-v1", "factors": self.factors}


BASE_POINTS = 30


def rules_score(lead: dict[str, Any], today: date) -> RuleScore:
    """Score a normalised lead (the fields of the stored row plus ``details``).

    Each factor names why it counts; the weights come from what agencies report converts best:
    reachable, insured shoppers whose policy renews soon, with complete line details.
    """
    factors: list[tuple[str, int]] = []
    if lead.get("phone") and lead.get("email"):
        factors.append(("both phone and e-mail given", 15))
    elif lead.get("phone"):
        factors.append(("phone given", 10))
    if lead.get("currently_insured"):
        factors.append(("currently insured (shopping, not first purchase)", 12))
    expires = lead.get("policy_expires_on")
    if isinstance(expires, date) and 0 <= (expires - today).days <= 45:
        factors.append(("current policy expires within 45 days", 15))
    if lead.get("consent_verified"):
        factors.append(("consent certificate attached", 8))
    if lead.get("street"):
        factors.append(("full street address", 5))
    details = lead.get("details") or {}
    factors.extend(_line_factors(str(lead.get("line")), details))
    if lead.get("is_test"):
        factors.append(("test lead", -100))
    score = max(0, min(100, BASE_POINTS + sum(points for _, points in factors)))
    return RuleScore(score, [{"factor": name, "points": points} for name, points in factors])


def _line_factors(line: str, details: dict[str, Any]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if line == "auto":
        drivers = details.get("drivers", [])
        if any(d.get("sr22_required") for d in drivers):
            out.append(("SR-22 filing required", -10))
        if sum(d.get("incidents_last_5_years", 0) for d in drivers) >= 3:
            out.append(("three or more incidents", -8))
        if details.get("coverage_tier") == "premium":
            out.append(("premium coverage wanted", 6))
    elif line == "home":
        if details.get("claims_last_5_years", 0) >= 2:
            out.append(("two or more claims", -8))
        if (details.get("roof_age_years") or 0) > 20:
            out.append(("roof older than 20 years", -6))
        if details.get("dwelling_coverage", 0) >= 500_000:
            out.append(("high dwelling coverage", 6))
    elif line == "life":
        if details.get("tobacco"):
            out.append(("tobacco user", -5))
        if details.get("face_amount", 0) >= 500_000:
            out.append(("large face amount", 8))
    elif line == "health":
        if details.get("qualifying_event"):
            out.append(("qualifying life event (can enrol now)", 10))
        if details.get("medicare_interest"):
            out.append(("Medicare interest", 5))
    elif line == "commercial":
        if details.get("years_in_business", 0) >= 3:
            out.append(("established business (3+ years)", 6))
        if details.get("employees", 0) >= 10:
            out.append(("ten or more employees", 6))
    return out
