"""Output for people (Rich) or scripts (--json), and clean configuration errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadgen.core.settings import ConfigError, Settings

console = Console()
# Not wrapped: a message is one line however long the path it names, so logs and grep keep it whole.
errors = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")


# What a command prints of names and values (a source called "acme[beta]", a path) is the user's
# text, never Rich markup: markup would drop the brackets, or fail on "[/x]".


def emit(data: Any, as_json: bool, human: str | Table | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str, indent=2))
    elif isinstance(human, Table):
        console.print(human)
    else:
        console.print(human if human is not None else data, markup=False)


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


@contextmanager
def configuration(needs: frozenset[str] | None = None) -> Iterator[Settings]:
    """Settings, or every problem with them on stderr and exit code 2. Given ``needs`` (of the
    targets to run), what those targets cannot run without is named in the same list."""
    try:
        yield Settings(needs)
    except ConfigError as exc:
        errors.print("[bold red]invalid configuration:[/]")
        for problem in exc.problems:
            errors.print(f"  - {escape(problem)}")  # a value in brackets is the operator's, not markup
        raise typer.Exit(2) from None


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=escape(title))
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(escape(str(v)) for v in row))
    return out
