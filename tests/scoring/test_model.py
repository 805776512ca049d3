"""The packaged model: score bounds, explanations, speed, and held-out quality against the rules."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.scoring import metrics
from leadgen.scoring.features import parse_lead
from leadgen.scoring.model import (
    DEFAULT_PATH,
    MAX_WEIGHT,
    MODEL_VERSION,
    LeadScoreModel,
    ModelFileError,
    load_model,
)
from leadgen.scoring.synthetic import generate
from leadgen.scoring.training import DAY_PARTS, evaluate
from tests.scoring.conftest import lead_row
from tests.scoring.test_features import EDGE_ROWS

# The packaged model must beat the rules score's held-out AUC by at least this much. Measured at
# training: 0.74 vs 0.61; ten points of AUC is the gap between "barely ranks" and "useful", and
# 0.08 leaves room for retraining noise without letting a regression through.
AUC_MARGIN = 0.08
# With 15,000 held-out leads in deciles of 1,500 at rates of 2-35 %, sampling noise alone gives a
# perfectly calibrated model an ECE of about 0.006 (the report's ece_noise_floor). 0.02 is about
# three times that: it fails a model that is off by two points of probability on average, not
# one that met an unlucky sample.
MAX_ECE = 0.02
# Per part of the week, the model's mean probability against the world's true one (no outcome
# noise). The packaged model is within 5 % in every part. What a retraining may add is the noise of
# its own estimates: a part such as the Saturday desk's rests on about 1,600 training leads, and a
# fit on another seed of the history lands 15 % off there. v1, whose timing features did not follow
# the wait for a first call, scored Friday nights at 1.58 times the world's probability and Sunday
# evenings at 0.65 times.
MAX_DAY_PART_ERROR = 0.2


@pytest.fixture(scope="module")
def held_out(model: LeadScoreModel) -> dict[str, Any]:
    return evaluate(model)


class TestModelScore:
    @pytest.mark.parametrize("row", [*EDGE_ROWS, lead_row()])
    def test_bounds_and_factor_shape(self, model: LeadScoreModel, row: dict[str, Any]) -> None:
        result = model.score(row)
        assert 0 <= result.score <= 100 and 0.0 <= result.probability <= 1.0
        assert result.score == round(100 * result.probability)
        assert result.model == MODEL_VERSION
        assert 1 <= len(result.factors) <= 5
        for factor in result.factors:
            assert set(factor) == {"factor", "points", "from_details"}
            assert isinstance(factor["factor"], str) and factor["factor"]
            assert isinstance(factor["points"], float)
            assert isinstance(factor["from_details"], bool)
        sizes = [abs(f["points"]) for f in result.factors]
        assert sizes == sorted(sizes, reverse=True)

    def test_payload_has_the_rules_score_shape_plus_probability(self, model: LeadScoreModel) -> None:
        payload = model.score(lead_row()).as_payload()
        assert set(payload) == {"model", "factors", "probability"}
        assert json.loads(json.dumps(payload)) == payload

    def test_points_of_all_factors_add_up_to_the_distance_from_the_average_lead(self, model: LeadScoreModel) -> None:
        for row in generate(200, seed=8).rows:
            result = model.score(row, top=100)
            total = sum(f["points"] for f in result.factors)
            exact = 100 * (result.probability - model.base_probability)
            assert total == pytest.approx(exact, abs=0.05 * len(result.factors))

    def test_factors_read_like_reasons(self, model: LeadScoreModel) -> None:
        row = lead_row(source="aged-lead-exchange", consent_verified=False, received_at=lead_row()["received_at"])
        names = [f["factor"] for f in model.score(row, top=100).factors]
        assert "no consent certificate (aged-lead-exchange)" in names
        assert "source aged-lead-exchange" in names
        assert "current policy expires in 15 days" in names

    def test_factors_never_quote_what_the_person_typed(self, model: LeadScoreModel) -> None:
        typed = "divorce from Jordan Quill, lost job at Dell"
        household = [{"relationship": "self", "age": 41}]
        row = lead_row(line="health", details={"household": household, "qualifying_event": typed})
        names = [f["factor"] for f in model.score(row, top=100).factors]
        assert "qualifying life event outside open enrollment" in names
        assert not any("Quill" in name for name in names)

    def test_health_factors_name_the_bands_the_model_uses_not_the_persons_figures(self, model: LeadScoreModel) -> None:
        life = {"height_inches": 64, "weight_pounds": 230, "tobacco": True, "face_amount": 500_000, "product": "term"}
        factors = model.score(lead_row(line="life", details=life), top=100).factors
        risk = {f["factor"]: f["from_details"] for f in factors if "tobacco" in f["factor"]}
        assert risk == {"tobacco use, BMI over 35": True}  # a BMI of 39.5
        assert not any("39" in f["factor"] or "40" in f["factor"] for f in factors)
        slim = {**life, "weight_pounds": 140, "tobacco": False, "product": "final_expense"}
        names = [f["factor"] for f in model.score(lead_row(line="life", details=slim), top=100).factors]
        assert "no tobacco use, BMI 35 or under (final expense)" in names

    def test_a_lead_without_phone_or_e_mail_is_not_said_to_have_an_e_mail(self, model: LeadScoreModel) -> None:
        names = [f["factor"] for f in model.score(lead_row(phone=None, email=None), top=100).factors]
        assert "no phone or e-mail" in names and "e-mail only, no phone" not in names

    @pytest.mark.parametrize("line", ["auto", "home", "life", "health", "commercial", "pet", None])
    def test_factors_only_describe_what_applies_to_the_leads_line(
        self, model: LeadScoreModel, line: str | None
    ) -> None:
        """A home lead has no driving record and an auto lead no roof: another line's groups add
        nothing, and their texts ("clean driving record") would say something false of the lead."""
        row = lead_row(line=line)
        factors = model.score(row, top=100).factors
        texts = {f["factor"] for f in factors}
        groups = model.featurizer.groups
        foreign = {g.describe(parse_lead(row)) for g in groups if g.line not in (None, line)}
        assert foreign and not foreign & texts, foreign & texts
        assert len(factors) == len([g for g in groups if g.line in (None, line)])

    def test_factors_drawn_from_the_details_are_marked(self, model: LeadScoreModel) -> None:
        marked = {f["factor"]: f["from_details"] for f in model.score(lead_row(), top=100).factors}
        assert marked["1 incident in 5 years"] and marked["standard coverage, 1 vehicle"]
        assert not marked["source acme-leads"] and not marked["current policy expires in 15 days"]
        home = {f["factor"]: f["from_details"] for f in model.score(lead_row(line="home", state="FL"), top=100).factors}
        assert home["home in a hard property market (FL)"] is False  # the state alone, which every reader sees

    def test_a_better_lead_scores_higher(self, model: LeadScoreModel) -> None:
        good = model.score(lead_row(source="agent-referrals"))
        poor = model.score(lead_row(source="aged-lead-exchange", consent_verified=False, phone=None, street=None))
        assert good.score > poor.score + 10

    def test_test_leads_score_zero(self, model: LeadScoreModel) -> None:
        result = model.score(lead_row(is_test=True))
        assert (result.score, result.probability) == (0, 0.0)
        assert result.factors[0]["factor"] == "test lead"

    def test_scoring_is_pure(self, model: LeadScoreModel) -> None:
        row = lead_row()
        snapshot = json.dumps(row, default=str)
        assert model.score(row) == model.score(row)
        assert json.dumps(row, default=str) == snapshot

    def test_agrees_with_the_batch_formula(self, model: LeadScoreModel) -> None:
        from leadgen.scoring.features import parse_lead

        rows = generate(300, seed=13).rows
        matrix = np.array([model.featurizer.transform(parse_lead(r)) for r in rows])
        assert np.allclose([model.score(r).probability for r in rows], model.probabilities(matrix), atol=1e-12)

    def test_scoring_takes_well_under_5_ms_per_lead(self, model: LeadScoreModel) -> None:
        rows = generate(1_000, seed=2).rows
        model.score(rows[0])
        started = time.perf_counter()
        for row in rows:
            model.score(row)
        per_lead = (time.perf_counter() - started) / len(rows)
        # About 0.1 ms on an idle core (bench/scoring/bench_model.py); loose so a busy CI box passes.
        assert per_lead < 0.005


class TestModelFile:
    def test_packaged_file_describes_itself(self) -> None:
        spec = json.loads(DEFAULT_PATH.read_text())
        assert spec["model"] == MODEL_VERSION
        assert spec["training"]["seed"] == 2026 and spec["training"]["generator"] == "synthetic-history-v1"
        assert spec["features"]["names"] and spec["trained_at"]
        assert spec["metrics"]["model"]["auc"] > spec["metrics"]["rules"]["auc"]

    def test_missing_or_broken_files_fail_clearly(self, tmp_path: Path) -> None:
        with pytest.raises(ModelFileError, match="cannot read"):
            load_model(tmp_path / "absent.json")
        (tmp_path / "old.json").write_text(json.dumps({"format": 0}))
        with pytest.raises(ModelFileError, match="format"):
            load_model(tmp_path / "old.json")
        (tmp_path / "partial.json").write_text(json.dumps({"format": 1, "model": MODEL_VERSION}))
        with pytest.raises(ModelFileError, match="missing"):
            load_model(tmp_path / "partial.json")
        (tmp_path / "list.json").write_text("[1, 2]")
        with pytest.raises(ModelFileError, match="not a JSON object"):
            load_model(tmp_path / "list.json")
        packaged = json.loads(DEFAULT_PATH.read_text())
        shapes: list[dict[str, Any]] = [{"features": []}, {"features": {**packaged["features"], "names": ["only one"]}}]
        for broken in shapes:
            (tmp_path / "shape.json").write_text(json.dumps({**packaged, **broken}))
            with pytest.raises(ModelFileError, match="is not a lead score model"):
                load_model(tmp_path / "shape.json")

    def test_a_model_of_another_version_is_refused(self, tmp_path: Path) -> None:
        spec = json.loads(DEFAULT_PATH.read_text())
        (tmp_path / "v7.json").write_text(json.dumps({**spec, "model": "lead-score-v7"}))
        with pytest.raises(ModelFileError) as refused:
            load_model(tmp_path / "v7.json")
        assert str(refused.value) == (
            f"{tmp_path / 'v7.json'} is not a usable lead score model: "
            f"model 'lead-score-v7'; this version reads '{MODEL_VERSION}'"
        )

    @pytest.mark.parametrize(
        ("field", "change"),
        [
            ("coefficients[3]", lambda spec: spec["coefficients"].__setitem__(3, float("nan"))),
            ("coefficients[0]", lambda spec: spec["coefficients"].__setitem__(0, "0.5")),
            ("intercept", lambda spec: spec.update(intercept=float("inf"))),
            ("intercept", lambda spec: spec.update(intercept=True)),
            ("calibration.a", lambda spec: spec["calibration"].update(a="1e400")),
            ("calibration.b", lambda spec: spec["calibration"].update(b=float("-inf"))),
            ("calibration.a", lambda spec: spec["calibration"].update(a=None)),
            ("features.means['phone']", lambda spec: spec["features"]["means"].update(phone=float("nan"))),
            ("features.line_means['sr22']", lambda spec: spec["features"]["line_means"].update(sr22=[1])),
        ],
    )
    def test_a_value_that_is_not_a_finite_number_is_refused_naming_it(
        self, tmp_path: Path, field: str, change: Callable[[dict[str, Any]], None]
    ) -> None:
        spec = json.loads(DEFAULT_PATH.read_text())
        change(spec)
        (tmp_path / "bad.json").write_text(json.dumps(spec))  # NaN and Infinity as JSON writes them
        with pytest.raises(ModelFileError) as refused:
            load_model(tmp_path / "bad.json")
        message = str(refused.value)
        assert message.startswith(f"{tmp_path / 'bad.json'} is not a usable lead score model: {field} is ")
        assert message.endswith("not a finite number")

    @pytest.mark.parametrize(
        ("part", "change", "reason"),
        [
            ("means", lambda part: part.clear(), r"lacks (\d+) of its \1 features: 'line=auto', 'line=home', "),
            ("line_means", lambda part: part.clear(), r"lacks (\d+) of its \1 features: 'incidents', 'sr22', "),
            ("means", lambda part: part.pop("phone"), r"lacks 1 of its \d+ features: 'phone'$"),
            ("line_means", lambda part: part.update(phone=0.5), "names 'phone', which is not one of its features$"),
        ],
        ids=["means emptied", "line means emptied", "one mean missing", "a general mean among the line means"],
    )
    def test_a_mean_missing_or_misplaced_is_refused_naming_it(
        self, tmp_path: Path, part: str, change: Callable[[dict[str, Any]], None], reason: str
    ) -> None:
        """Without its mean a feature would centre on 0: every factor off, and an unknown value scored as 0."""
        spec = json.loads(DEFAULT_PATH.read_text())
        change(spec["features"][part])
        path = tmp_path / "means.json"
        path.write_text(json.dumps(spec))
        with pytest.raises(ModelFileError) as refused:
            load_model(path)
        assert re.match(
            re.escape(f"{path} is not a usable lead score model: features.{part} ") + reason, str(refused.value)
        )

    @pytest.mark.parametrize(
        ("field", "change"),
        [
            ("coefficients[13]", lambda spec: spec["coefficients"].__setitem__(13, 1e308)),
            ("coefficients[0]", lambda spec: spec["coefficients"].__setitem__(0, -1e6)),
            ("intercept", lambda spec: spec.update(intercept=1e300)),
            ("calibration.a", lambda spec: spec["calibration"].update(a=1e9)),
            ("calibration.b", lambda spec: spec["calibration"].update(b=-400.0)),
        ],
    )
    def test_a_weight_no_fit_could_give_is_refused_naming_it(
        self, tmp_path: Path, field: str, change: Callable[[dict[str, Any]], None]
    ) -> None:
        """A finite but absurd number (a flipped exponent) would load and score leads 0 or 100 on one
        feature alone, or every lead 100: refused at start-up instead."""
        spec = json.loads(DEFAULT_PATH.read_text())
        change(spec)
        (tmp_path / "absurd.json").write_text(json.dumps(spec))
        with pytest.raises(ModelFileError) as refused:
            load_model(tmp_path / "absurd.json")
        assert str(refused.value).startswith(
            f"{tmp_path / 'absurd.json'} is not a usable lead score model: {field} is "
        )
        assert str(refused.value).endswith(f"beyond ±{MAX_WEIGHT:g}, which no fit of these features gives")

    @pytest.mark.parametrize("slope", [0.0, -1.0])
    def test_a_calibration_that_does_not_rank_is_refused(self, tmp_path: Path, slope: float) -> None:
        spec = json.loads(DEFAULT_PATH.read_text())
        spec["calibration"]["a"] = slope
        (tmp_path / "flat.json").write_text(json.dumps(spec))
        with pytest.raises(ModelFileError, match=f"calibration.a is {slope}; it must be above 0"):
            load_model(tmp_path / "flat.json")


class TestHeldOut:
    def test_beats_the_rules_score_by_a_clear_margin(self, held_out: dict[str, Any]) -> None:
        assert held_out["model"]["auc"] - held_out["rules"]["auc"] >= AUC_MARGIN

    def test_is_calibrated(self, held_out: dict[str, Any]) -> None:
        assert held_out["model"]["ece"] < MAX_ECE
        assert held_out["model"]["brier"] < held_out["rules_calibrated"]["brier"]
        for decile in held_out["reliability"]:
            assert abs(decile["predicted"] - decile["observed"]) < 0.05

    def test_is_calibrated_in_every_part_of_the_week(self, held_out: dict[str, Any]) -> None:
        parts = {row["part"]: row for row in held_out["day_parts"]}
        assert list(parts) == list(DAY_PARTS) and all(row["leads"] >= 150 for row in parts.values())
        for part, row in parts.items():
            assert abs(row["predicted"] / row["world"] - 1) < MAX_DAY_PART_ERROR, (part, row)

    def test_evaluation_reproduces_the_figures_in_the_model_file(
        self, model: LeadScoreModel, held_out: dict[str, Any]
    ) -> None:
        stored = model.metrics
        for scorer in ("model", "rules", "rules_calibrated"):
            assert held_out[scorer] == stored[scorer]


class TestMetrics:
    def test_match_scikit_learn(self) -> None:
        sklearn_metrics = pytest.importorskip("sklearn.metrics")
        rng = np.random.default_rng(0)
        p = rng.random(5_000)
        y = rng.random(5_000) < p
        tied = np.round(p * 10) / 10  # many ties, like the rules score
        assert metrics.auc(tied, y) == pytest.approx(sklearn_metrics.roc_auc_score(y, tied))
        assert metrics.brier(p, y) == pytest.approx(sklearn_metrics.brier_score_loss(y, p))
        assert metrics.log_loss(p, y) == pytest.approx(sklearn_metrics.log_loss(y, p))

    def test_split_is_stratified_and_fixed(self) -> None:
        labels = np.random.default_rng(1).random(10_000) < 0.1
        train, test = metrics.stratified_split(labels, 0.25, seed=3)
        again = metrics.stratified_split(labels, 0.25, seed=3)
        assert np.array_equal(test, again[1]) and len(np.intersect1d(train, test)) == 0
        assert len(train) + len(test) == len(labels)
        assert labels[test].mean() == pytest.approx(labels.mean(), abs=0.001)

    def test_ece_of_a_perfect_model_is_its_noise_floor(self) -> None:
        rng = np.random.default_rng(2)
        p = rng.random(20_000) * 0.4
        assert metrics.ece(p, rng.random(20_000) < p) < 3 * metrics.ece_noise_floor(p, draws=20)
        assert metrics.ece(p, rng.random(20_000) < p / 2) > 0.05

    def test_platt_recovers_a_known_map(self) -> None:
        rng = np.random.default_rng(3)
        z = rng.normal(0, 2, 50_000)
        y = rng.random(50_000) < 1 / (1 + np.exp(-(0.6 * z - 1.5)))
        a, b = metrics.fit_platt(z * 10 + 40, y)  # any input scale
        assert a * 10 == pytest.approx(0.6, abs=0.03) and a * 40 + b == pytest.approx(-1.5, abs=0.05)
