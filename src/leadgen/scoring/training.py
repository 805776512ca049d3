"""Train the lead score on the synthetic history and evaluate it against the rules score.

Training needs scikit-learn (the ``train`` extra); evaluation does not, so the runtime image can
check the model it ships. Steps of ``train``:

1. generate the history (``synthetic.generate``) and split it, stratified, 75 % / 25 %;
2. learn feature levels and means on the training part only;
3. pick the L2 strength by 5-fold cross-validated log loss;
4. fit Platt scaling on the out-of-fold log-odds, so calibration never sees a lead it was trained on;
5. refit on the whole training part, export to JSON, and evaluate on the held-out part (by decile
   of the predicted probability, and by part of the week against the world's true probability).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from leadgen.scoring import metrics
from leadgen.scoring.features import Featurizer, parse_lead
from leadgen.scoring.model import FORMAT, MODEL_VERSION, LeadScoreModel, ModelFileError
from leadgen.scoring.rules import rules_score
from leadgen.scoring.synthetic import DEFAULT_ROWS, DEFAULT_SEED, GENERATOR, History, generate

SPLIT_SEED = 17
TEST_SHARE = 0.25
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
FOLDS = 5
# The parts of the week whose leads wait alike for a first call (features.py, the call-back
# schedule): office hours, the evening desk, one night, a weekend, the Saturday desk. Calibration is
# checked per part as well as by decile: a model can be right on average and wrong every Sunday night.
DAY_PARTS = (
    "Mon-Fri 8-18",
    "Mon-Fri 18-21",
    "Mon-Fri 0-8",
    "Mon-Thu 21-24",
    "Fri 21-24",
    "Sat 9-14",
    "Sat other hours",
    "Sun 0-18",
    "Sun 18-24",
)


class TrainingUnavailable(RuntimeError):
    """scikit-learn is not installed (it is a training-time dependency only)."""


def split(
    history: History, test_share: float = TEST_SHARE, seed: int = SPLIT_SEED
) -> tuple[metrics.IntArray, metrics.IntArray]:
    return metrics.stratified_split(history.converted, test_share, seed)


def train(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns the model file's content and the held-out evaluation report."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
    except ImportError as exc:
        raise TrainingUnavailable("training needs scikit-learn: pip install 'leadgen[train]'") from exc

    from threadpoolctl import threadpool_limits

    history = generate(rows, seed)
    train_idx, _ = split(history)
    facts = [parse_lead(history.rows[i]) for i in train_idx]
    y = history.converted[train_idx]
    featurizer = Featurizer.fit_facts(facts)
    x = np.array([featurizer.transform(f) for f in facts])

    def fit(c: float, rows_: metrics.IntArray) -> Any:
        return LogisticRegression(C=c, max_iter=5000, tol=1e-6).fit(x[rows_], y[rows_])

    # One BLAS/OpenMP thread: a problem this small runs several times slower with threads
    # competing for the cores (measured: 0.6 s vs 0.08 s per fit on a busy two-core machine).
    with threadpool_limits(limits=1):
        folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SPLIT_SEED).split(x, y))
        out_of_fold = {c: np.zeros(len(y)) for c in C_GRID}
        for fold_train, fold_test in folds:
            for c in C_GRID:
                out_of_fold[c][fold_test] = fit(c, fold_train).decision_function(x[fold_test])
        losses = {c: metrics.log_loss(1 / (1 + np.exp(-z)), y) for c, z in out_of_fold.items()}
        best = min(C_GRID, key=lambda c: (round(losses[c], 6), -c))
        a, b = metrics.fit_platt(out_of_fold[best], y)
        final = fit(best, np.arange(len(y)))
    spec: dict[str, Any] = {
        "format": FORMAT,
        "model": MODEL_VERSION,
        "kind": "logistic regression (L2) over engineered features, Platt-calibrated",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {
            "generator": GENERATOR,
            "seed": seed,
            "rows": rows,
            "split_seed": SPLIT_SEED,
            "test_share": TEST_SHARE,
            "train_leads": len(y),
            "C": best,
            "cv_log_loss": losses[best],
            "trainer": "scikit-learn LogisticRegression (lbfgs)",
        },
        "features": featurizer.to_dict(),
        "coefficients": [float(v) for v in final.coef_[0]],
        "intercept": float(final.intercept_[0]),
        "calibration": {"method": "platt", "a": a, "b": b},
    }
    report = evaluate(LeadScoreModel(spec), history)
    spec["metrics"] = {
        k: report[k]
        for k in (
            "held_out",
            "base_rate",
            "model",
            "rules",
            "rules_calibrated",
            "oracle",
            "auc_margin",
            "ece_noise_floor",
        )
    }
    return spec, report


def evaluate(model: LeadScoreModel, history: History | None = None) -> dict[str, Any]:
    """Model vs rules score on the held-out split of the history the model was trained from.

    Raises ``ModelFileError`` when the file's training record cannot rebuild that split."""
    training = _training_record(model.spec)
    if history is None:
        history = generate(training["rows"], training["seed"])
    train_idx, test_idx = metrics.stratified_split(history.converted, training["test_share"], training["split_seed"])
    _require_training_split(model, history, train_idx)
    y = history.converted[test_idx]
    held_out = [history.rows[i] for i in test_idx]
    # The model as the pipeline runs it: one row at a time through score().
    probability = np.array([model.score(r).probability for r in held_out])
    rules = np.array([_rules(r) for r in held_out])
    rules_train = np.array([_rules(history.rows[i]) for i in train_idx])
    # The rules score is points, not a probability: also give it its best calibration (Platt, on train).
    a, b = metrics.fit_platt(rules_train / 10, history.converted[train_idx])
    rules_calibrated = 1 / (1 + np.exp(-(a * rules / 10 + b)))
    model_metrics = metrics.summary(probability, y)
    rules_metrics = metrics.summary(np.clip(rules / 100, 0, 1), y)
    return {
        "model_version": model.version,
        "generator": training["generator"],
        "seed": training["seed"],
        "rows": training["rows"],
        "split_seed": training["split_seed"],
        "held_out": len(test_idx),
        "base_rate": round(float(y.mean()), 4),
        "model": model_metrics,
        "rules": rules_metrics,
        "rules_calibrated": metrics.summary(rules_calibrated, y),
        "oracle": {"auc": round(metrics.auc(history.probability[test_idx], y), 4)},
        "auc_margin": round(model_metrics["auc"] - rules_metrics["auc"], 4),
        "ece_noise_floor": round(metrics.ece_noise_floor(probability), 5),
        "reliability": metrics.reliability(probability, y),
        "day_parts": _by_day_part(held_out, probability, y, history.probability[test_idx]),
    }


def _training_record(spec: dict[str, Any]) -> dict[str, Any]:
    """The file's record of its history and split, checked: held-out leads drawn from another
    generator, or split otherwise, would be leads the model may have been trained on."""
    training = spec.get("training")
    if not isinstance(training, dict):
        raise ModelFileError("it has no training record (generator, seed, rows, split_seed, test_share)")
    generator = training.get("generator")
    if generator != GENERATOR:
        raise ModelFileError(
            f"it was trained on {generator}, and this version generates {GENERATOR}: "
            "its held-out leads cannot be drawn again"
        )
    for name, least in (("rows", 1), ("seed", 0), ("split_seed", 0)):
        if name not in training:
            raise ModelFileError(f"training.{name} is missing")
        value = training[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ModelFileError(f"training.{name} is {value!r}, not a whole number of {least} or more")
    share = training.get("test_share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise ModelFileError(f"training.test_share is {share!r}, not a share between 0 and 1")
    return training


def _require_training_split(model: LeadScoreModel, history: History, train_idx: metrics.IntArray) -> None:
    """The levels and means in the file are learned from its training leads alone, so they
    fingerprint them: learned again from the split the record names, they must come out the same,
    or the "held-out" leads would include leads the model was trained on."""
    learned = Featurizer.fit_facts([parse_lead(history.rows[i]) for i in train_idx]).to_dict()
    stored = model.featurizer.to_dict()
    same = learned["sources"] == stored["sources"] and learned["states"] == stored["states"]
    same = same and all(
        math.isclose(learned[part][name], value, rel_tol=1e-9, abs_tol=1e-12)
        for part in ("means", "line_means")
        for name, value in stored[part].items()
    )
    if not same:
        raise ModelFileError(
            "its feature levels and means were not learned from the training split its record names "
            "(rows, seed, split_seed, test_share): the leads that record holds out may include leads "
            "the model was trained on"
        )


def day_part(row: dict[str, Any]) -> str | None:
    """Which of ``DAY_PARTS`` the lead arrived in, in its local time (None: not known)."""
    local = parse_lead(row).local
    if local is None:
        return None
    day, hour = local.weekday(), local.hour  # Monday is 0
    if day < 5 and hour < 21:
        return "Mon-Fri 0-8" if hour < 8 else "Mon-Fri 8-18" if hour < 18 else "Mon-Fri 18-21"
    if day < 5:
        return "Mon-Thu 21-24" if day < 4 else "Fri 21-24"
    if day == 5:
        return "Sat 9-14" if 9 <= hour < 14 else "Sat other hours"
    return "Sun 0-18" if hour < 18 else "Sun 18-24"


def _by_day_part(
    rows: list[dict[str, Any]], probability: metrics.FloatArray, labels: metrics.BoolArray, world: metrics.FloatArray
) -> list[dict[str, Any]]:
    """Per day part: the model's mean probability, the observed rate, and the world's true mean
    probability (``History.probability``), which has no sampling noise of the outcomes."""
    parts = np.array([day_part(r) or "" for r in rows])
    table: list[dict[str, Any]] = []
    for part in DAY_PARTS:
        members = parts == part
        row: dict[str, Any] = {"part": part, "leads": int(members.sum())}
        for name, values in (("predicted", probability), ("observed", labels), ("world", world)):
            row[name] = round(float(values[members].mean()), 4) if members.any() else None
        table.append(row)
    return table


def _rules(row: dict[str, Any]) -> float:
    return float(rules_score(row, row["received_at"].date()).score)
