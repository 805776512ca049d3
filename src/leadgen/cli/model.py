"""``leadgen model``: train the lead score and evaluate it against the rules score."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadgen.cli.output import JsonOption, console, emit, fail, table
from leadgen.scoring.synthetic import DEFAULT_ROWS, DEFAULT_SEED

app = typer.Typer(no_args_is_help=True, help="The lead scoring model: train it on synthetic history, evaluate it.")


@app.command()
def train(
    rows: Annotated[
        int, typer.Option("--rows", min=2000, help="Leads of synthetic history to generate.")
    ] = DEFAULT_ROWS,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the history generator.")] = DEFAULT_SEED,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the model (default: the packaged file).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Generate history, train and calibrate on 75 %, evaluate on the held-out 25 %, write the model file.

    Needs scikit-learn (pip install 'leadgen\\[train]'); the runtime only needs the JSON it writes.
    """
    from leadgen.scoring.model import DEFAULT_PATH, write_model_file
    from leadgen.scoring.training import TrainingUnavailable
    from leadgen.scoring.training import train as train_model

    target = out or DEFAULT_PATH
    _refuse_unwritable(target)  # before training: a full-size run takes about a minute
    try:
        spec, report = train_model(rows, seed)
    except TrainingUnavailable as exc:
        raise fail(str(exc)) from None
    try:
        write_model_file(spec, target)
    except OSError as exc:
        raise fail(f"cannot write the model file {target}: {exc.strerror or exc}") from None
    report["written_to"] = str(target)
    _report(report, as_json, f"trained {spec['model']} (C={spec['training']['C']}) → {target}")


def _refuse_unwritable(target: Path) -> None:
    """Refuse a destination the model file cannot be written to, naming why."""
    if target.is_dir():
        raise fail(f"--out {target} is a directory: give the path of the model file")
    existing = target.parent
    while not existing.exists():  # the directories that writing the file will create
        existing = existing.parent
    if not existing.is_dir():
        raise fail(f"--out {target}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise fail(f"--out {target}: no permission to write in {existing}")


@app.command()
def evaluate(
    model: Annotated[Path | None, typer.Option("--model", help="Model file (default: the packaged one).")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Re-generate the held-out split the model was trained with and compare it with the rules score."""
    from leadgen.scoring.model import DEFAULT_PATH, ModelFileError, load_model
    from leadgen.scoring.training import evaluate as evaluate_model

    try:
        loaded = load_model(model)
    except ModelFileError as exc:
        raise fail(str(exc)) from None
    try:
        report = evaluate_model(loaded)
    except ModelFileError as exc:
        raise fail(f"{model or DEFAULT_PATH} cannot be evaluated: {exc}") from None
    _report(report, as_json, f"evaluated {loaded.version} (trained {loaded.spec.get('trained_at')})")


def _report(report: dict[str, Any], as_json: bool, headline: str) -> None:
    if as_json:
        emit(report, True)
        return
    console.print(f"[bold]{headline}[/]")
    console.print(
        f"history: {report['generator']}, seed {report['seed']}, {report['rows']:,} leads; held out "
        f"{report['held_out']:,} (split seed {report['split_seed']}), conversion rate {report['base_rate']:.1%}"
    )
    emit(report, False, _metrics_table(report))
    emit(
        report,
        False,
        table(
            "Reliability of the model on the held-out leads, by decile of predicted probability",
            ["decile", "leads", "predicted range", "mean predicted", "observed"],
            [
                [
                    r["decile"],
                    r["leads"],
                    f"{r['from']:.3f} to {r['to']:.3f}",
                    f"{r['predicted']:.3f}",
                    f"{r['observed']:.3f}",
                ]
                for r in report["reliability"]
            ],
        ),
    )
    emit(
        report,
        False,
        table(
            "Calibration by when the lead arrived (its local time), against the history's true probability",
            ["part of the week", "leads", "mean predicted", "observed", "true"],
            [
                [r["part"], r["leads"], *(_share(r[name]) for name in ("predicted", "observed", "world"))]
                for r in report.get("day_parts", [])
            ],
        ),
    )
    console.print(
        f"AUC margin over the rules score: [bold]{report['auc_margin']:+.3f}[/]; "
        f"model ECE {report['model']['ece']:.4f} vs {report['ece_noise_floor']:.4f}, "
        "what a perfectly calibrated model would show by chance on this many leads."
    )


def _metrics_table(report: dict[str, Any]) -> Table:
    rows = [
        ["lead score model", report["model"]],
        ["rules score (points / 100 read as a probability)", report["rules"]],
        ["rules score, Platt-calibrated on the training split", report["rules_calibrated"]],
    ]
    out = table(
        "Held-out evaluation",
        ["scorer", "AUC", "Brier", "log loss", "ECE"],
        [[name, f"{m['auc']:.4f}", f"{m['brier']:.4f}", f"{m['log_loss']:.4f}", f"{m['ece']:.4f}"] for name, m in rows],
    )
    out.add_row("oracle (the generator's true probability)", f"{report['oracle']['auc']:.4f}", "", "", "")
    return out


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
