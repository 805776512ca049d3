"""The trained lead score: a calibrated logistic regression evaluated with numpy alone.

The model file (``models/lead-score-v2.json``) holds everything inference needs: the feature
levels and centring means, the coefficients, and the Platt calibration. Load it once
(``default_model()``) and call ``score(row)`` per lead; nothing else is read or written.
Training writes a file with ``write_model_file`` (whole or not at all).

Explanations are exact. The calibrated log-odds of a lead are

    a * (intercept + sum_j w_j * m_j + sum_j w_j * (x_j - m_j)) + b

where ``m`` is the average training lead, so each group of features adds
``a * sum w_j (x_j - m_j)`` to the log-odds of the average lead. Those shares are turned into
score points by splitting this lead's distance from the average lead's score
(``100 * (p - p_avg)``) in proportion to them: all factors together add up to exactly that
distance, and each one's size and sign are its exact share of the log-odds.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from leadgen.scoring.features import LINES, Featurizer, parse_lead

# v2: the time a lead arrives is read as the wait for a first call it implies (features._timing_group).
MODEL_VERSION = "lead-score-v2"
FORMAT = 1
DEFAULT_PATH = Path(__file__).parent / "models" / f"{MODEL_VERSION}.json"
TOP_FACTORS = 5
# The largest log-odds a model file may give one unit of a feature, its intercept or its Platt
# parameters. The packaged fit's largest is under 1; a finite number far beyond (a flipped exponent)
# would load and score leads 0 or 100 on one feature alone.
MAX_WEIGHT = 20.0


class ModelFileError(ValueError):
    """The model file is missing, malformed or from an incompatible version."""


@dataclass
class ModelScore:
    score: int  # calibrated probability x 100, 0-100
    probability: float
    model: str
    # Top factors: {"factor": str, "points": float, "from_details": bool}. ``from_details`` marks one
    # drawn from the lead's details, which not every reader of the lead may see (``leads.visibility``).
    factors: list[dict[str, Any]] = field(default_factory=list)

    def as_payload(self) -> dict[str, Any]:
        """Stored with the lead as ``score_factors`` (the shape ``RuleScore.as_payload`` has, plus the probability)."""
        return {"model": self.model, "factors": self.factors, "probability": round(self.probability, 4)}


def _finite(value: Any, field: str) -> float:
    """A number of the model file, refused unless finite (JSON's NaN and 1e400 read as numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelFileError(f"{field} is {value!r}, not a finite number")
    return float(value)


def _weight(value: Any, field: str) -> float:
    """A coefficient, intercept or calibration parameter: finite, and within ``MAX_WEIGHT``."""
    number = _finite(value, field)
    if abs(number) > MAX_WEIGHT:
        raise ModelFileError(f"{field} is {number!r}, beyond ±{MAX_WEIGHT:g}, which no fit of these features gives")
    return number


def _require_every_mean(features: dict[str, Any], featurizer: Featurizer) -> None:
    """Every feature's training mean must be in the file: the code would take 0 for a missing one,
    which centres the factors wrongly and scores unknown values as 0 instead of the average."""
    for part, per_line in (("means", False), ("line_means", True)):
        expected = [n for n, pl in zip(featurizer.names, featurizer.per_line.tolist(), strict=True) if pl == per_line]
        missing = [n for n in expected if n not in features[part]]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise ModelFileError(f"features.{part} lacks {len(missing)} of its {len(expected)} features: {shown}")
        unknown = sorted(set(features[part]) - set(expected))
        if unknown:
            raise ModelFileError(f"features.{part} names {unknown[0]!r}, which is not one of its features")


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class LeadScoreModel:
    """Chance that a lead converts, with the reasons, from one model file."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if spec.get("format") != FORMAT:
            raise ModelFileError(f"model file format {spec.get('format')!r}; this version reads format {FORMAT}")
        # The feature code and the explanations are this version's: another version's weights would
        # load, and score every lead wrongly.
        if spec.get("model") != MODEL_VERSION:
            raise ModelFileError(f"model {spec.get('model')!r}; this version reads {MODEL_VERSION!r}")
        self.spec = spec
        self.version: str = spec["model"]
        features = spec["features"]
        for part in ("means", "line_means"):
            for name, value in features[part].items():
                _finite(value, f"features.{part}[{name!r}]")
        self.featurizer = Featurizer.from_dict(features)
        _require_every_mean(features, self.featurizer)
        coefficients = spec["coefficients"]
        if not isinstance(coefficients, list):
            raise ModelFileError("coefficients is not a list")
        self.coef = np.array([_weight(value, f"coefficients[{i}]") for i, value in enumerate(coefficients)])
        if self.coef.shape != (len(self.featurizer.names),):
            raise ModelFileError("coefficients and features differ in number")
        self.intercept = _weight(spec["intercept"], "intercept")
        self.a = _weight(spec["calibration"]["a"], "calibration.a")
        self.b = _weight(spec["calibration"]["b"], "calibration.b")
        # Platt's slope turns the log-odds into probabilities: at 0 every lead would score alike,
        # below it the better leads lower.
        if self.a <= 0:
            raise ModelFileError(f"calibration.a is {self.a!r}; it must be above 0")
        # The groups that can describe a lead of each line (None: a line the model does not know):
        # another line's groups add nothing to it, and their texts ("clean driving record" for a
        # home lead) would say something false of it.
        groups = self.featurizer.groups
        self._own_groups = {
            line: np.array([i for i, g in enumerate(groups) if g.line in (None, line)]) for line in (*LINES, None)
        }
        self.base_logit = self.intercept + float(self.coef @ self.featurizer.means)
        self.base_probability = _sigmoid(self.a * self.base_logit + self.b)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.spec.get("metrics", {}))

    def score(self, row: dict[str, Any], now: datetime | None = None, top: int = TOP_FACTORS) -> ModelScore:
        """Score a stored lead row with its ``top`` factors (``now`` only stands in for a missing ``received_at``)."""
        facts = parse_lead(row, now)
        contributions = self._group_contributions(self.featurizer.transform(facts))
        total = float(contributions.sum())
        probability = _sigmoid(self.a * (self.base_logit + total) + self.b)
        if row.get("is_test"):
            test = {"factor": "test lead", "points": round(-100 * probability, 1), "from_details": False}
            return ModelScore(0, 0.0, self.version, [test])
        shift = self.a * total
        # Score points per unit of calibrated log-odds: the secant from the average lead to this one,
        # or the slope there when the two coincide.
        per_logit = (
            100 * (probability - self.base_probability) / shift
            if abs(shift) > 1e-9
            else 100 * probability * (1 - probability)
        )
        own = self._own_groups[facts.line]
        top_groups = own[np.argsort(-np.abs(contributions[own]), kind="stable")][:top]
        groups = self.featurizer.groups
        factors = [
            {
                "factor": groups[g].describe(facts),
                "points": round(float(per_logit * self.a * contributions[g]), 1),
                "from_details": groups[g].from_details,
            }
            for g in top_groups
        ]
        return ModelScore(min(100, max(0, round(100 * probability))), probability, self.version, factors)

    def _group_contributions(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Log-odds (before calibration) each group adds to the average lead's."""
        return np.add.reduceat(self.coef * (x - self.featurizer.means), self.featurizer.starts)

    def probabilities(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities for a matrix of transformed rows (evaluation)."""
        z = self.a * (self.intercept + matrix @ self.coef) + self.b
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return out


def load_model(path: Path | None = None) -> LeadScoreModel:
    """Read a model file (default: the one shipped in the package)."""
    target = path or DEFAULT_PATH
    try:
        spec = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"cannot read the scoring model {target}: {exc}") from exc
    if not isinstance(spec, dict):
        raise ModelFileError(f"{target} is not a lead score model: not a JSON object")
    try:
        return LeadScoreModel(spec)
    except ModelFileError as exc:
        raise ModelFileError(f"{target} is not a usable lead score model: {exc}") from None
    except KeyError as exc:
        raise ModelFileError(f"{target} is not a lead score model: missing {exc}") from exc
    # A part of the wrong shape: the features' own checks (ValueError), a list or number where an
    # object belongs (AttributeError, TypeError).
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{target} is not a lead score model: {exc}") from exc


def write_model_file(spec: Mapping[str, Any], path: Path) -> None:
    """Write a model file whole or not at all: into a temporary file beside ``path``, flushed to
    disk, then renamed over it. A reader, or the next start, sees the previous file or the new one,
    never part of one (a full disk would otherwise leave a truncated packaged model, and processes
    that refuse to start). Raises ``OSError`` when it cannot, with the temporary file removed."""
    text = json.dumps(spec, indent=1) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # Created as any new file is (the umask decides its mode); one replacing a file keeps that file's mode.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.is_file():
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # The rename itself survives a power cut only once the directory is on disk too.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@cache
def default_model() -> LeadScoreModel:
    """The packaged model, read on first use and kept for the life of the process."""
    return load_model()
