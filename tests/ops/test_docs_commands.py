"""Every `scripts/k8s/*.sh` and `leadgen k8s` command in the docs' code blocks parses with the real CLI.

The docs are where operators copy commands from; an option renamed in the code must fail here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer._click.exceptions import UsageError
from typer.exceptions import Exit

from leadgen.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    *sorted((ROOT / "docs").glob("KUBERNETES_*.md")),
    ROOT / "k8s" / "README.md",
    ROOT / "README.md",
    ROOT / "infrastructure" / "kubernetes" / "cluster-setup.md",
    ROOT / "scripts" / "k8s" / "README.md",
]
COMMAND = re.compile(r"(?:scripts/k8s/(?P<script>[a-z-]+)\.sh|leadgen k8s (?P<sub>[a-z-]+))(?P<rest>[^`|#\n]*)")
PLACEHOLDERS = {"ENV": "prod", "SERVICE": "api", "N": "3", "REPLICAS": "3", "REVISION": "2"}


def documented() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        in_code = False
        for line in doc.read_text().splitlines():
            if line.lstrip().startswith("```"):
                in_code = not in_code
                continue
            if not in_code:
                continue  # prose names commands; code blocks are what operators run
            for match in COMMAND.finditer(line):
                name = match.group("script") or match.group("sub")
                try:
                    words = shlex.split(match.group("rest"))
                except ValueError:
                    continue
                words = [PLACEHOLDERS.get(w, w) for w in words if not w.startswith(("<", "[", "…", "..."))]
                words = [w for w in words if w not in ("\\", "&&", ";")]
                found.append((f"{doc.relative_to(ROOT)}: {match.group(0).strip()}", [name, *words]))
    return found


COMMANDS = documented()


def test_the_docs_name_every_command() -> None:
    named = {args[0] for _, args in COMMANDS}
    assert {"deploy", "rollback", "scale", "debug", "health-check"} <= named


@pytest.mark.parametrize(("where", "args"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_parses(where: str, args: list[str]) -> None:
    k8s = typer.main.get_command(app).commands["k8s"]  # type: ignore[attr-defined]
    command = k8s.commands.get(args[0])
    assert command is not None, f"{where}: no such command"
    try:
        command.make_context(args[0], args[1:], resilient_parsing=False)
    except Exit:
        pass  # --help
    except UsageError as exc:
        pytest.fail(f"{where}: {exc.format_message()}")
