"""Feature engineering on edge cases: missing details, unknown lines and sources, odd types."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from leadgen.scoring import synthetic
from leadgen.scoring.features import Featurizer, LeadFacts, call_backs_resume, parse_lead, wait_doublings
from leadgen.scoring.model import LeadScoreModel
from leadgen.scoring.synthetic import generate
from tests.scoring.conftest import RECEIVED, lead_row

CHICAGO = ZoneInfo("America/Chicago")  # Texas leads' local time


def contributions(model: LeadScoreModel, row: dict[str, Any]) -> dict[str, float]:
    facts = parse_lead(row)
    values = model._group_contributions(model.featurizer.transform(facts))
    return {g.name: float(v) for g, v in zip(model.featurizer.groups, values, strict=True)}


def group_values(featurizer: Featurizer, facts: LeadFacts, name: str) -> Any:
    index = [g.name for g in featurizer.groups].index(name)
    return featurizer.transform(facts)[featurizer.slices[index]]


class TestParse:
    def test_local_time_follows_the_state(self) -> None:
        assert parse_lead(lead_row(state="TX")).local.hour == 10  # type: ignore[union-attr]
        assert parse_lead(lead_row(state="CA")).local.hour == 8  # type: ignore[union-attr]

    def test_naive_and_text_timestamps_are_read_as_utc(self) -> None:
        naive = parse_lead(lead_row(received_at=RECEIVED.replace(tzinfo=None)))
        text = parse_lead(lead_row(received_at=RECEIVED.isoformat()))
        assert naive.local == text.local == parse_lead(lead_row()).local

    def test_expiry_counts_from_the_day_received(self) -> None:
        assert parse_lead(lead_row()).days_to_expiry == 15
        assert parse_lead(lead_row(policy_expires_on="2026-03-25")).days_to_expiry == 15
        assert parse_lead(lead_row(policy_expires_on="soon")).days_to_expiry is None

    def test_without_received_at_now_stands_in(self) -> None:
        facts = parse_lead(lead_row(received_at=None), now=datetime(2026, 3, 20, tzinfo=UTC))
        assert facts.local is None and facts.days_to_expiry == 5

    def test_unknown_values_are_not_guessed(self) -> None:
        facts = parse_lead({"line": "pet", "state": "ZZ", "currently_insured": "yes", "consent_verified": 1})
        assert (facts.line, facts.state, facts.insured, facts.consent) == (None, None, None, None)
        assert facts.details == {}


class TestTransform:
    def test_fast_path_equals_the_numpy_reference(self, model: LeadScoreModel) -> None:
        featurizer = model.featurizer
        rows = [*generate(600, seed=3).rows, *EDGE_ROWS]
        for row in rows:
            facts = parse_lead(row)
            assert np.array_equal(featurizer.transform(facts), featurizer.transform_slow(facts))

    def test_unknown_source_pools_into_other(self, model: LeadScoreModel) -> None:
        values = group_values(model.featurizer, parse_lead(lead_row(source="brand-new-vendor")), "source")
        assert values[-1] == 1.0 and values.sum() == 1.0

    def test_missing_source_is_average(self, model: LeadScoreModel) -> None:
        assert contributions(model, lead_row(source=None))["source"] == pytest.approx(0, abs=1e-12)

    def test_unknown_line_is_average_and_has_no_line_details(self, model: LeadScoreModel) -> None:
        parts = contributions(model, lead_row(line="pet", details={"species": "dog"}))
        assert parts["line"] == pytest.approx(0, abs=1e-12)
        per_line = {g.name for g in model.featurizer.groups if g.line}
        assert all(parts[name] == 0 for name in per_line)

    @pytest.mark.parametrize("details", [{}, None, "garbage", {"drivers": "none", "vehicles": 3}])
    def test_missing_details_count_as_the_average_lead_of_that_line(self, model: LeadScoreModel, details: Any) -> None:
        parts = contributions(model, lead_row(details=details))
        assert parts["driving_record"] == 0 and parts["auto_policy"] == 0

    def test_other_lines_details_never_count(self, model: LeadScoreModel) -> None:
        parts = contributions(model, lead_row(line="home", details={"drivers": [{"sr22_required": True}]}))
        assert parts["driving_record"] == 0
        assert parts["property"] == parts["claims"] == 0  # no home details given either

    def test_one_missing_number_takes_its_line_mean(self, model: LeadScoreModel) -> None:
        featurizer = model.featurizer
        home = {"year_built": 1990, "square_feet": 1800, "claims_last_5_years": 0, "dwelling_coverage": 300_000}
        known = featurizer.transform(parse_lead(lead_row(line="home", details={**home, "roof_age_years": 5})))
        unknown = featurizer.transform(parse_lead(lead_row(line="home", details=home)))
        flag = featurizer.index["roof_unknown"]
        assert unknown[flag] > known[flag]  # the "roof age not given" flag is on
        same = [featurizer.index[n] for n in ("built_before_1950", "dwelling_500k_plus", "log10_dwelling")]
        assert np.array_equal(unknown[same], known[same])
        no_cover = featurizer.transform(parse_lead(lead_row(line="home", details={"year_built": 1990})))
        assert no_cover[featurizer.index["log10_dwelling"]] == 0.0  # centred: exactly the home average

    def test_wrong_types_in_details_do_not_raise(self, model: LeadScoreModel) -> None:
        odd = {"drivers": [{"incidents_last_5_years": "many", "sr22_required": "yes"}, 7], "coverage_tier": 3}
        assert 0 <= model.score(lead_row(details=odd)).score <= 100

    @pytest.mark.parametrize("odd", [math.nan, math.inf, -math.inf, 10**400], ids=["nan", "inf", "-inf", "10**400"])
    def test_numbers_that_are_not_finite_count_as_not_given(self, model: LeadScoreModel, odd: float) -> None:
        self_only = [{"relationship": "self"}]
        cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [  # line, details, the same without them
            ("auto", {"drivers": [{"incidents_last_5_years": odd}]}, {"drivers": [{}]}),
            (
                "home",
                {"roof_age_years": odd, "claims_last_5_years": odd, "dwelling_coverage": 300_000},
                {"dwelling_coverage": 300_000},
            ),
            (
                "home",
                {"dwelling_coverage": odd, "year_built": odd, "claims_last_5_years": 1},
                {"claims_last_5_years": 1},
            ),
            (
                "life",
                {"height_inches": odd, "weight_pounds": odd, "face_amount": odd, "tobacco": True},
                {"tobacco": True},
            ),
            (
                "health",
                {"household": [{"relationship": "self", "age": odd}], "medicare_interest": True},
                {"household": self_only, "medicare_interest": True},
            ),
            (
                "commercial",
                {"years_in_business": odd, "employees": odd, "coverages": ["property"]},
                {"coverages": ["property"]},
            ),
        ]
        for line, details, without in cases:
            result = model.score(lead_row(line=line, details=details), top=100)
            assert result == model.score(lead_row(line=line, details=without), top=100), (line, details)
            assert all(math.isfinite(f["points"]) for f in result.factors)

    def test_a_coverage_named_twice_counts_once(self, model: LeadScoreModel) -> None:
        """Coverages are a free list: "property" three times (or in other case and spacing) is one
        coverage wanted, not the package of three that converts better."""
        business = {"legal_name": "x", "entity_type": "llc", "years_in_business": 5, "employees": 4}

        def scored(coverages: list[str]) -> tuple[float, list[str]]:
            result = model.score(lead_row(line="commercial", details={**business, "coverages": coverages}), top=100)
            return result.probability, [str(f["factor"]) for f in result.factors if "in business" in f["factor"]]

        once = scored(["property"])
        assert once[1] == ["5 years in business, 4 employees, 1 coverage wanted"]
        assert scored(["property"] * 3) == once
        assert scored(["property", "Property ", " PROPERTY"]) == once
        assert scored(["property", "cyber", "general_liability"])[0] > once[0]
        single = {**business, "years_in_business": 1, "employees": 1, "coverages": ["cyber"]}
        factors = model.score(lead_row(line="commercial", details=single), top=100).factors
        assert "1 year in business, 1 employee, 1 coverage wanted" in [f["factor"] for f in factors]

    def test_extreme_finite_numbers_do_not_raise(self, model: LeadScoreModel) -> None:
        life = {"height_inches": 1e308, "weight_pounds": 1e308, "tobacco": False, "face_amount": 1e308}
        for row in (lead_row(line="life", details=life), lead_row(line="home", details={"dwelling_coverage": 1e308})):
            result = model.score(row, top=100)
            assert 0 <= result.score <= 100 and all(math.isfinite(f["points"]) for f in result.factors)


class TestTiming:
    """When a lead arrives is read as the wait for a first call it implies (the call-back schedule)."""

    @pytest.mark.parametrize(
        ("received", "resumes"),
        [
            (datetime(2026, 3, 15, 21, 40), datetime(2026, 3, 16, 8, 30)),  # Sunday evening: Monday morning
            (datetime(2026, 3, 13, 22, 10), datetime(2026, 3, 16, 8, 30)),  # Friday night: after the weekend
            (datetime(2026, 3, 14, 23, 0), datetime(2026, 3, 16, 8, 30)),  # Saturday night
            (datetime(2026, 3, 11, 3, 0), datetime(2026, 3, 11, 8, 30)),  # a weeknight: the same morning
            (datetime(2026, 3, 11, 22, 0), datetime(2026, 3, 12, 8, 30)),
        ],
    )
    def test_call_backs_resume_at_the_next_weekday_opening(self, received: datetime, resumes: datetime) -> None:
        assert call_backs_resume(received.replace(tzinfo=CHICAGO)) == resumes.replace(tzinfo=CHICAGO)

    def test_the_wait_follows_the_history_it_is_learned_from(self) -> None:
        """For every half hour of a week, the features' typical wait agrees with the minutes the
        synthetic history draws (``log2(1 + minutes / 5)``, the doublings its conversions pay for)."""
        draw = synthetic._Draw(5)
        vendor = next(s for s in synthetic.SOURCES if s.name == "acme-leads")
        monday = datetime(2025, 6, 2, tzinfo=CHICAGO)
        for step in range(7 * 48):
            local = monday + timedelta(minutes=30 * step)
            drawn = [math.log2(1 + synthetic._minutes_to_contact(draw, vendor, local) / 5) for _ in range(2000)]
            assert wait_doublings(local) == pytest.approx(float(np.mean(drawn)), abs=0.2), local

    def test_a_longer_wait_scores_lower(self, model: LeadScoreModel) -> None:
        def score(day: int, hour: int) -> float:
            return model.score(lead_row(received_at=datetime(2026, 3, day, hour, tzinfo=CHICAGO))).probability

        friday_evening, friday_night, saturday_night, sunday_night = (
            score(13, 19),
            score(13, 21),
            score(14, 23),
            score(15, 21),
        )
        # Reached in about half an hour by the evening desk, or on Monday at 8:30 after 60, 33 or 11 hours.
        assert friday_evening > 3 * friday_night
        assert sunday_night > 1.25 * saturday_night and saturday_night > 1.1 * friday_night

    def test_a_live_transfer_loses_nothing_to_the_hour(self, model: LeadScoreModel) -> None:
        """A transferred call is in progress whenever it comes: the wait costs its source nothing."""

        def score(source: str, when: datetime) -> float:
            return model.score(lead_row(source=source, received_at=when.replace(tzinfo=CHICAGO))).probability

        office, sunday_night = datetime(2026, 3, 10, 10, 30), datetime(2026, 3, 15, 21, 40)
        assert score("live-transfer-partners", sunday_night) == pytest.approx(
            score("live-transfer-partners", office), rel=0.1
        )
        assert score("acme-leads", sunday_night) < 0.6 * score("acme-leads", office)

    def test_factor_texts_say_when_the_lead_will_be_called(self, model: LeadScoreModel) -> None:
        def text(when: datetime) -> str:
            factors = model.score(lead_row(received_at=when.replace(tzinfo=CHICAGO)), top=100).factors
            [timing] = [str(f["factor"]) for f in factors if f["factor"].startswith("received")]
            return timing

        assert text(datetime(2026, 3, 10, 10, 30)) == "received Tue 10:30 local time, office hours"
        assert text(datetime(2026, 3, 10, 19, 5)) == "received Tue 19:05 local time, evening desk hours"
        assert text(datetime(2026, 3, 14, 10, 15)) == "received Sat 10:15 local time, weekend desk hours"
        assert text(datetime(2026, 3, 15, 21, 40)) == (
            "received Sun 21:40 local time, after hours: call-backs resume Mon 08:30 (in 11 h)"
        )
        assert text(datetime(2026, 3, 11, 7, 50)) == (
            "received Wed 07:50 local time, after hours: call-backs resume Wed 08:30 (in 40 min)"
        )

    def test_without_a_source_the_wait_costs_what_it_costs_the_average_source(self, model: LeadScoreModel) -> None:
        """How much a wait costs is learned per source; a lead without one (the scoring preview's
        default) pays the average source's cost of its own wait, the sources weighed by their leads."""

        def logit(source: str | None, when: datetime) -> float:
            facts = parse_lead(lead_row(source=source, received_at=when))
            return float(model._group_contributions(model.featurizer.transform(facts)).sum())

        office, sunday_night = (
            datetime(2026, 3, 10, 10, 30, tzinfo=CHICAGO),
            datetime(2026, 3, 15, 21, 40, tzinfo=CHICAGO),
        )
        shares = {s.name: s.share for s in synthetic.SOURCES}
        average = sum(share * (logit(s, sunday_night) - logit(s, office)) for s, share in shares.items()) / sum(
            shares.values()
        )
        assert logit(None, sunday_night) - logit(None, office) == pytest.approx(average, rel=0.02)


class TestFit:
    def test_rare_categories_pool_and_means_centre(self) -> None:
        rows = generate(3_000, seed=21).rows
        featurizer = Featurizer.fit(rows)
        assert "vendor-03" not in featurizer.sources and "acme-leads" in featurizer.sources
        x = np.array([featurizer.transform(parse_lead(r)) for r in rows])
        general = ~featurizer.per_line
        assert np.allclose(x[:, general].mean(axis=0), featurizer.means[general])
        auto = np.array([r["line"] == "auto" for r in rows])
        auto_columns = featurizer.line_masks["auto"]
        assert np.allclose(x[auto][:, auto_columns].mean(axis=0), 0, atol=1e-9)

    def test_round_trip_and_version_guard(self) -> None:
        featurizer = Featurizer.fit(generate(2_000, seed=4).rows)
        data = featurizer.to_dict()
        again = Featurizer.from_dict(data)
        facts = parse_lead(lead_row())
        assert np.array_equal(again.transform(facts), featurizer.transform(facts))
        with pytest.raises(ValueError, match="do not match"):
            Featurizer.from_dict({**data, "names": data["names"][:-1]})


EDGE_ROWS: list[dict[str, Any]] = [
    {},
    lead_row(details={}),
    lead_row(line=None, source=None, state=None, received_at=None, consent_verified=None),
    lead_row(line="life", details={"tobacco": True, "product": "final_expense"}),
    lead_row(line="life", details={"height_inches": 0, "weight_pounds": 180, "face_amount": -5}),
    lead_row(line="health", details={"household": [{"relationship": "self", "age": 64}], "medicare_interest": True}),
    lead_row(line="health", details={"qualifying_event": "moved"}),
    lead_row(line="commercial", details={"years_in_business": 0, "employees": 0, "coverages": []}),
    lead_row(line="home", state="FL", details={"roof_age_years": 30}),
    lead_row(policy_expires_on="2020-01-01", currently_insured=None),
]
