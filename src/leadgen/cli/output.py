"""Output for people (Rich) or scripts (--json), and clean configuration errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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
    targets to run), what those targets cannot run without is named in the same list. A command
    whose stores are embedded finds their data directory there, its user's alone."""
    try:
        settings = Settings(needs)
        if settings.is_development and _embedded_stores(settings):
            private_data(settings.common.data_dir)
        yield settings  # the command's own ConfigError (a scoring model it cannot load) is one too
    except ConfigError as exc:
        errors.print("[bold red]invalid configuration:[/]")
        for problem in exc.problems:
            errors.print(f"  - {escape(problem)}")  # a value in brackets is the operator's, not markup
        raise typer.Exit(2) from None


def _embedded_stores(settings: Settings) -> bool:
    """Whether a store keeps its data on this machine (the SQLite database, Qdrant's local mode,
    the embedded graph)."""
    return settings.database_url.startswith("sqlite") or settings.qdrant.url is None or settings.neo4j.uri is None


def private_data(data_dir: Path) -> None:
    """The embedded stores hold people's personal data: their directory, made here before any
    store opens, and every file this process creates (the umask) are its user's alone, whatever
    the machine's default. A directory another user owns was given as it is (a pod's volume,
    which the kubelet makes root's and group-writable): its mode is left to whoever gave it. A
    path that cannot be the directory is exit code 2, in one line."""
    os.umask(0o077)
    where = "LEADGEN_DATA_DIR, or --data-dir"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise fail(f"the data directory {data_dir} is not a directory ({where})", 2) from None
    except OSError as exc:
        raise fail(f"cannot create the data directory {data_dir}: {exc.strerror or exc} ({where})", 2) from None
    if data_dir.stat().st_uid != os.getuid():
        return
    try:
        data_dir.chmod(0o700)
    except OSError as exc:
        raise fail(f"cannot make the data directory {data_dir} private: {exc.strerror or exc} ({where})", 2) from None


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=escape(title))
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(escape(str(v)) for v in row))
    return out
