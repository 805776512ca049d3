"""Feature engineering on edge cases: missing details, unknown lines and sources, odd types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from leadgen.scoring.features import Featurizer, LeadFacts, parse_lead
from leadgen.scoring.model import LeadScoreModel
from leadgen.scoring.synthetic import generate
from tests.scoring.conftest import RECEIVED, lead_row


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
