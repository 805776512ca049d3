"""Training: deterministic, and what it saves scores exactly like what it trained; the CLI works."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadgen.cli.model import app
from leadgen.scoring.model import DEFAULT_PATH, LeadScoreModel, load_model, write_model_file
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


def test_a_model_file_written_over_another_keeps_its_mode(small: tuple[dict, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    """It is written beside the old one and renamed over it: who may read it stays as it was."""
    spec, _ = small
    path = tmp_path / "model.json"
    path.write_text("{}")
    path.chmod(0o640)
    write_model_file(spec, path)
    assert load_model(path).spec["coefficients"] == spec["coefficients"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


class TestCliRefusals:
    """Bad arguments or an unwritable destination: a clear error, and no model file written or harmed."""

    def test_a_negative_seed_is_refused_by_name(self, tmp_path: Path) -> None:
        out = tmp_path / "m.json"
        result = CliRunner().invoke(app, ["train", "--rows", "2000", "--seed", "-1", "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--seed'" in result.output
        assert not out.exists()

    @pytest.mark.parametrize("where", ["a directory", "under a file"])
    def test_an_out_path_that_cannot_be_the_file_is_refused(self, tmp_path: Path, where: str) -> None:
        (tmp_path / "afile").write_text("kept")
        out = tmp_path if where == "a directory" else tmp_path / "afile" / "m.json"
        result = CliRunner().invoke(app, ["train", "--rows", "2000", "--out", str(out)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.output.startswith("error: --out ") and str(out) in result.output
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
        assert (tmp_path / "afile").read_text() == "kept"

    def test_a_write_that_fails_midway_leaves_the_previous_model_whole(self, tmp_path: Path) -> None:
        """The file is written beside its destination and renamed over it: a full disk (here a file
        size limit) never leaves a truncated model for the next start to refuse."""
        out = tmp_path / "lead-score.json"
        previous = DEFAULT_PATH.read_bytes()
        out.write_bytes(previous)
        limit = 4096  # below the size of any model file
        script = (
            "import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
            "from leadgen.cli.model import app\n"
            f"app(['train', '--rows', '2000', '--out', {str(out)!r}])\n"
        )
        ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
        assert ran.returncode == 1, ran.stderr
        assert f"error: cannot write the model file {out}" in ran.stderr and "Traceback" not in ran.stderr
        assert out.read_bytes() == previous
        assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind


NOT_ITS_SPLIT = "were not learned from the training split its record names"


class TestEvaluateRefusals:
    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            (lambda spec: spec.pop("training"), "has no training record"),
            (lambda spec: spec["training"].pop("split_seed"), "training.split_seed is missing"),
            (lambda spec: spec["training"].update(rows="60000"), "training.rows is '60000'"),
            (lambda spec: spec["training"].update(test_share=1.5), "training.test_share is 1.5"),
            (
                lambda spec: spec["training"].update(generator="synthetic-history-v0"),
                "trained on synthetic-history-v0",
            ),
            (lambda spec: spec["training"].update(split_seed=18), NOT_ITS_SPLIT),
            (lambda spec: spec["training"].update(test_share=0.5), NOT_ITS_SPLIT),
        ],
        ids=[
            "no training record",
            "no split seed",
            "rows as text",
            "test share above 1",
            "another generator",
            "another split seed",
            "another test share",
        ],
    )
    def test_a_model_whose_held_out_split_cannot_be_rebuilt_is_refused(
        self, tmp_path: Path, change: Callable[[dict[str, Any]], Any], reason: str
    ) -> None:
        """Evaluation rebuilds the held-out split from the file's record: without a usable one it
        would crash, or score leads of another history as if they were held out."""
        spec = json.loads(DEFAULT_PATH.read_text())
        change(spec)
        path = tmp_path / "model.json"
        path.write_text(json.dumps(spec))
        result = CliRunner().invoke(app, ["evaluate", "--model", str(path)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.output.startswith(f"error: {path} cannot be evaluated: ")
        assert reason in result.output
