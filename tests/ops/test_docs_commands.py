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
from leadgen.ops import contract

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    *sorted((ROOT / "docs").glob("KUBERNETES_*.md")),
    ROOT / "k8s" / "README.md",
    ROOT / "README.md",
    ROOT / "infrastructure" / "kubernetes" / "cluster-setup.md",
    ROOT / "scripts" / "k8s" / "README.md",
]
TROUBLESHOOTING = ROOT / "docs" / "KUBERNETES_TROUBLESHOOTING.md"
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


def code_lines(doc: Path) -> list[str]:
    """The lines of a doc's code blocks, a line continued with ``\\`` joined to the next."""
    lines: list[str] = []
    in_code, pending = False, ""
    for line in doc.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            pending += line.rstrip().removesuffix("\\")
            if not line.rstrip().endswith("\\"):
                lines.append(pending)
                pending = ""
    return lines


def section(doc: Path, heading: str) -> str:
    """The text under one ``## heading``, up to the next."""
    text = doc.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


class TestDeployByHand:
    """The by-hand steps in the docs do what ``leadgen k8s deploy`` does."""

    def test_a_diff_leaves_the_job_out_and_uses_deploys_field_manager(self) -> None:
        diffs = 0
        for doc in DOCS:
            lines = code_lines(doc)
            renders = {m.group(1) for line in lines for m in re.finditer(r"kubectl kustomize \S+ > (\S+)", line)}
            for line in (line for line in lines if "kubectl diff" in line):
                diffs += 1
                assert f"--server-side --field-manager={contract.FIELD_MANAGER}" in line, f"{doc.name}: {line}"
                # The whole render holds the migration Job, whose pod template is immutable.
                assert not any(render in line for render in renders), f"{doc.name}: {line}"
        assert diffs

    def test_a_wait_for_the_migration_also_ends_when_it_fails(self) -> None:
        for doc in DOCS:
            for line in code_lines(doc):
                assert "--for=condition=complete job/" not in line, f"{doc.name}: waits out the deadline on a failure"


class TestApplyConflicts:
    """A deploy stops on a field another manager changed: ``rollback`` and ``scale --hpa``."""

    def test_troubleshooting_names_the_real_causes(self) -> None:
        [row] = [line for line in TROUBLESHOOTING.read_text().splitlines() if "Apply failed with conflicts" in line]
        assert "`rollback`" in row and "`scale --hpa`" in row and "--force-conflicts" in row
        assert contract.SCALE_FIELD_MANAGER in row and "without `--hpa`" not in row

    @pytest.mark.parametrize("heading", ["Rollback", "Scaling"])
    def test_the_deployment_guide_says_the_next_deploy_stops(self, heading: str) -> None:
        text = " ".join(section(ROOT / "docs" / "KUBERNETES_DEPLOYMENT.md", heading).split())
        assert "stops on an apply conflict" in text and "`--force-conflicts`" in text
