"""The synthetic history: reproducible, shaped like stored leads, with the effects it documents."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from leadgen.leads.schemas import AutoDetails, CommercialDetails, HealthDetails, HomeDetails, LifeDetails
from leadgen.scoring.synthetic import History, generate

SCORING_KEYS = {
    "line",
    "phone",
    "email",
    "street",
    "currently_insured",
    "policy_expires_on",
    "is_test",
    "details",
    "source",
    "state",
    "received_at",
    "consent_verified",
    "campaign",
}
DETAILS: dict[str, type[BaseModel]] = {
    "auto": AutoDetails,
    "home": HomeDetails,
    "life": LifeDetails,
    "health": HealthDetails,
    "commercial": CommercialDetails,
}


@pytest.fixture(scope="module")
def history() -> History:
    return generate(20_000, seed=11)


class TestDeterminism:
    def test_same_seed_same_history(self) -> None:
        first, second = generate(1_500, seed=5), generate(1_500, seed=5)
        assert first.rows == second.rows
        assert np.array_equal(first.converted, second.converted)
        assert np.array_equal(first.probability, second.probability)
        assert np.array_equal(first.contact_minutes, second.contact_minutes)

    def test_another_seed_another_history(self) -> None:
        assert generate(300, seed=5).rows != generate(300, seed=6).rows

    def test_a_longer_history_starts_with_the_shorter_one(self) -> None:
        # Leads are drawn one after another from one stream: rows=N is a prefix of rows=2N.
        assert generate(400, seed=9).rows == generate(800, seed=9).rows[:400]


class TestShape:
    def test_rows_are_what_the_pipeline_passes_to_scoring(self, history: History) -> None:
        for row in history.rows[:2_000]:
            assert set(row) == SCORING_KEYS
            assert isinstance(row["received_at"], datetime) and row["received_at"].tzinfo is not None
            assert row["phone"] or row["email"]

    def test_details_are_valid_for_the_intake_schema(self, history: History) -> None:
        for row in history.rows[:3_000]:
            DETAILS[row["line"]].model_validate(_as_if_received_today(row))

    def test_every_line_and_many_states_and_sources_appear(self, history: History) -> None:
        assert {r["line"] for r in history.rows} == set(DETAILS)
        assert len({r["state"] for r in history.rows}) >= 45
        assert len({r["source"] for r in history.rows}) == 18


def _as_if_received_today(row: dict[str, Any]) -> dict[str, Any]:
    """The row's details with their dates moved on by the time since it was received: intake bounds
    them from the day of receipt (a health cover's start), and the history lies in the past."""
    details = dict(row["details"])
    if details.get("coverage_start") is not None:
        since = datetime.now(UTC).date() - row["received_at"].date()
        details["coverage_start"] = (date.fromisoformat(details["coverage_start"]) + since).isoformat()
    return details


class TestEffects:
    """A few of the effects docs/SCORING.md lists, visible in raw conversion rates."""

    def rate(self, history: History, keep: list[bool]) -> float:
        return float(history.converted[np.array(keep)].mean())

    def test_conversion_rate_is_realistic(self, history: History) -> None:
        assert 0.08 < history.converted.mean() < 0.18

    def test_vendor_quality_differs(self, history: History) -> None:
        rows = history.rows
        assert self.rate(history, [r["source"] == "agent-referrals" for r in rows]) > 2 * self.rate(
            history, [r["source"] == "aged-lead-exchange" for r in rows]
        )

    def test_leads_received_overnight_wait_longer_and_convert_less(self, history: History) -> None:
        night = np.array([r["received_at"].astimezone(_tz(r["state"])).hour < 6 for r in history.rows])
        assert np.median(history.contact_minutes[night]) > 5 * np.median(history.contact_minutes[~night])
        assert history.converted[night].mean() < 0.7 * history.converted[~night].mean()

    def test_a_missing_certificate_hurts_poor_vendors_more(self, history: History) -> None:
        def gap(source: str) -> float:
            rows = history.rows
            with_cert = self.rate(history, [r["source"] == source and r["consent_verified"] for r in rows])
            without = self.rate(history, [r["source"] == source and not r["consent_verified"] for r in rows])
            return with_cert - without

        assert gap("leadharbor") > gap("web-form") + 0.03


def _tz(state: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from leadgen.leads.geography import timezone_for_state

    return ZoneInfo(timezone_for_state(state))
