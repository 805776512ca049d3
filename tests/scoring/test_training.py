"""Training: deterministic, and what it saves scores exactly like what it trained; the CLI works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadgen.cli.model import app
from leadgen.scoring.model import LeadScoreModel, load_model
from leadgen.scoring.synthetic import generate
from leadgen.scoring.training import train

pytest.importorskip("sklearn", reason="training needs the 'train' extra (scikit-learn)")


@pytest.fixture(scope="module")
def small() -> tuple[dict, dict]:  # type: ignore[type-arg]
    return train(rows=5_000, seed=3)


def test_train_save_load_gives_identical_scores(small: tuple[dict, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    spec, _ = small
    path = tmp_path / "model.json"
    path.write_text(json.dumps(spec))
    trained, loaded = LeadScoreModel(spec), load_model(path)
    for row in generate(500, seed=99).rows:
        assert loaded.score(row) == trained.score(row)


def test_training_is_deterministic(small: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    spec, report = small
    again, again_report = train(rows=5_000, seed=3)
    assert again["coefficients"] == spec["coefficients"]
    assert again["calibration"] == spec["calibration"]
    assert again_report["model"] == report["model"]


def test_even_a_small_history_beats_the_rules(small: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    _, report = small
    assert report["model"]["auc"] > report["rules"]["auc"]


class TestCli:
    def test_train_writes_a_loadable_model_and_reports(self, tmp_path: Path) -> None:
        out = tmp_path / "models" / "tmp.json"
        result = CliRunner().invoke(app, ["train", "--rows", "5000", "--seed", "4", "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["written_to"] == str(out)
        assert {"model", "rules", "rules_calibrated", "reliability", "auc_margin"} <= set(report)
        assert load_model(out).spec["training"]["rows"] == 5000

    def test_train_and_evaluate_print_tables(self, tmp_path: Path) -> None:
        out = tmp_path / "tmp.json"
        trained = CliRunner().invoke(app, ["train", "--rows", "5000", "--out", str(out)])
        assert trained.exit_code == 0, trained.output
        assert "Held-out evaluation" in trained.output and "Reliability" in trained.output
        evaluated = CliRunner().invoke(app, ["evaluate", "--model", str(out)])
        assert evaluated.exit_code == 0, evaluated.output
        assert "AUC margin over the rules score" in evaluated.output
        assert "Calibration by when the lead arrived" in evaluated.output and "Sun 18-24" in evaluated.output

    def test_evaluate_names_a_bad_model_file(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path / "nope.json")])
        assert result.exit_code == 1
        assert "cannot read the scoring model" in result.output
