"""What a person sees: Rich tables, progress and failure reports; plus the terminal prompter."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.prompt import IntPrompt, Prompt
from rich.table import Table
from rich.text import Text

from leadgen.ops.errors import UsageError
from leadgen.ops.report import Failure, StepResult, StepStatus, to_json
from leadgen.ops.rules.health import Check, Status, exit_code
from leadgen.ops.rules.manifests import Finding
from leadgen.ops.rules.workloads import EventLine

if TYPE_CHECKING:
    from leadgen.ops.debug import DebugResult
    from leadgen.ops.deploy import DeployResult
    from leadgen.ops.healthcheck import HealthReport
    from leadgen.ops.rollback import RollbackResult
    from leadgen.ops.rules.hpa import HpaStatus
    from leadgen.ops.scale import ScaleResult

STEP_MARKS = {
    StepStatus.OK: "[green]✓[/]",
    StepStatus.WARNING: "[yellow]![/]",
    StepStatus.FAILED: "[red]✗[/]",
    StepStatus.SKIPPED: "[dim]-[/]",
}
STATUS_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}


def consoles() -> tuple[Console, Console]:
    """stdout for results, stderr for progress and errors (so ``--json`` stays clean)."""
    return Console(highlight=False), Console(stderr=True, highlight=False)


def emit_json(value: Any, **extra: Any) -> None:
    payload = {**extra, **to_json(value)} if not isinstance(value, dict) else {**extra, **value}
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


class RichReporter:
    """Spinners while a step runs (on a terminal), one line per finished step."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        if console.is_terminal:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )

    def started(self, name: str, description: str) -> None:
        if self.progress is not None:
            if not self.tasks:
                self.progress.start()
            self.tasks[name] = self.progress.add_task(description, total=None)

    def finished(self, step: StepResult) -> None:
        if self.progress is not None and step.name in self.tasks:
            self.progress.remove_task(self.tasks.pop(step.name))
            if not self.tasks:
                self.progress.stop()
        detail = Text(f" {step.detail}") if step.detail else Text("")
        line = Text.from_markup(f"{STEP_MARKS[step.status]} [bold]{step.name}[/]")
        self.console.print(line + detail)

    def info(self, message: str) -> None:
        self.console.print(Text(message, style="yellow" if message.startswith("warning") else ""))

    def findings(self, findings: list[Finding]) -> None:
        self.console.print(findings_table(findings))

    def diff(self, text: str) -> None:
        self.console.print(Text("Diff against the cluster:", style="bold"))
        print_diff(self.console, text)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


class TerminalPrompter:
    """Asks on the terminal; refuses (with the flag to use) when there is none."""

    def __init__(self, console: Console, interactive: bool) -> None:
        self.console = console
        self.interactive = interactive

    def _require(self, hint: str) -> None:
        if not self.interactive:
            raise UsageError("Confirmation needed, but there is no terminal to ask.", hint=hint)

    def confirm(self, question: str, *, hint: str) -> bool:
        self._require(hint)
        answer = Prompt.ask(f"{escape(question)} \\[y/N]", console=self.console, default="n", show_default=False)
        return answer.strip().lower() in ("y", "yes")

    def confirm_typed(self, question: str, expected: str, *, hint: str) -> bool:
        self._require(hint)
        return Prompt.ask(question, console=self.console, default="").strip() == expected

    def choose(self, question: str, options: list[str]) -> int:
        for number, option in enumerate(options, start=1):
            self.console.print(f"  {number}) {option}")
        choices = [str(n) for n in range(1, len(options) + 1)]
        return IntPrompt.ask(question, console=self.console, choices=choices) - 1


# --- shared pieces -----------------------------------------------------------------------------


def print_error(console: Console, message: str, hint: str | None) -> None:
    console.print(Text("error: ", style="bold red") + Text(message))
    if hint:
        console.print(Text("hint: ", style="bold") + Text(hint))


def findings_table(findings: Iterable[Finding]) -> Table:
    table = Table(title="Manifest checks", title_justify="left")
    for column in ("SEVERITY", "RESOURCE", "PROBLEM"):
        table.add_column(column)
    for f in findings:
        style = "red" if f.severity == "error" else "yellow"
        table.add_row(Text(f.severity, style=style), f.resource, f.message)
    return table


def events_table(events: Iterable[EventLine], title: str = "Events") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"):
        table.add_column(column, overflow="fold")
    for e in events:
        style = "yellow" if e.type == "Warning" else ""
        table.add_row(e.last_seen, Text(e.type, style=style), e.reason, e.object, str(e.count), e.message)
    return table


def print_failure(console: Console, failure: Failure) -> None:
    console.print(Text.assemble(("FAILED ", "bold red"), (failure.resource, "bold")))
    console.print(Text(failure.message))
    p = failure.problem
    if p is not None:
        parts = [f"pod {p.pod}"]
        if p.container:
            parts.append(f"container {p.container}")
        parts.append(f"reason {p.reason}")
        if p.last_termination:
            parts.append(f"last termination {p.last_termination} (exit code {p.exit_code})")
        if p.restarts:
            parts.append(f"{p.restarts} restart(s)")
        console.print(Text("Failing pod: ", style="bold") + Text(", ".join(parts)))
        if p.message:
            console.print(Text(f"  {p.message}"))
        if p.last_message:
            console.print(Text("Termination message: ", style="bold") + Text(p.last_message.strip()))
    if failure.events:
        console.print(events_table(failure.events, "Last events"))
    if failure.logs:
        console.print(Text("Last log lines:", style="bold"))
        for line in failure.logs:
            console.print(Text(f"  {line}"))
    if failure.hint:
        console.print(Text("hint: ", style="bold") + Text(failure.hint))


def print_checks(console: Console, checks: Iterable[Check], title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("CHECK", "NAME", "STATUS", "DETAIL"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(c.category, c.name, Text(c.status.value.upper(), style=STATUS_STYLE[c.status]), c.detail)
    console.print(table)


# --- per command ---------------------------------------------------------------------------------


def print_health_checks(console: Console, report: HealthReport) -> None:
    mode = "deep" if report.deep else "standard"
    print_checks(console, report.checks, f"Health of {report.namespace} ({mode})")


def print_health(console: Console, report: HealthReport) -> None:
    print_health_checks(console, report)
    counts = report.counts
    verdict = Text("FAIL", style="bold red") if report.exit_code else Text("PASS", style="bold green")
    summary = f"  {counts['pass']} passed, {counts['warn']} warning(s), {counts['fail']} failed"
    if not counts["pass"]:
        summary += ": no check passed, so nothing was verified"
    console.print(verdict + Text(summary))


def print_diff(console: Console, diff: str) -> None:
    for line in diff.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
        console.print(Text(line, style=style))


def print_deploy(console: Console, result: DeployResult) -> None:
    """The end of a deploy (steps, findings and the diff were shown as they happened; the
    health-check step gave deploy's verdict on the checks)."""
    if result.health is not None:
        print_health_checks(console, result.health)
    if result.failure is not None:
        print_failure(console, result.failure)
        return
    what = f"dry run ({result.dry_run})" if result.dry_run else "deploy"
    release = f" (release {result.release})" if result.release else ""
    console.print(Text(f"{what} of {result.environment} to {result.namespace} succeeded{release}", style="bold green"))


def print_history(console: Console, result: RollbackResult) -> None:
    for entry in result.services:
        table = Table(title=f"deployment/{entry.service}", title_justify="left")
        for column in ("REVISION", "", "RELEASE", "CREATED", "IMAGES", "CHANGE-CAUSE"):
            table.add_column(column, overflow="fold")
        for rev in entry.history:
            mark = "current" if rev.current else ("target" if rev.number == entry.to_revision else "")
            if rev.number in entry.passed_over:
                mark = "same as current"
            table.add_row(
                str(rev.number),
                mark,
                rev.release or "",
                rev.created or "",
                "\n".join(rev.images),
                rev.change_cause or "",
            )
        console.print(table)
        if entry.skipped:
            console.print(Text(f"skipped: {entry.skipped}", style="yellow"))


def print_rollback(console: Console, result: RollbackResult) -> None:
    print_history(console, result)
    if result.verification:
        print_checks(console, result.verification, "Verification")
    if result.failure is not None:
        print_failure(console, result.failure)
    elif not result.listed_only and any(s.to_revision for s in result.services):
        done = ", ".join(f"{s.service} → {s.to_revision}" for s in result.services if s.to_revision)
        if result.to_release:
            done = f"to release {result.to_release} ({done})"
        ok = not exit_code(result.verification)
        style = "bold green" if ok else "bold red"
        console.print(Text(f"rolled back {done}" + ("" if ok else "; verification failed"), style=style))


def hpa_table(status: HpaStatus) -> Table:
    table = Table(title=f"HPA {status.name}", title_justify="left")
    for column in ("MIN", "MAX", "CURRENT", "DESIRED", "METRICS", "CONDITIONS"):
        table.add_column(column, overflow="fold")
    metrics = "\n".join(f"{m.name}: {m.current} / {m.target}" for m in status.metrics)
    conditions = "\n".join(f"{t}={s} {r}" for t, s, r, _ in status.conditions)
    table.add_row(
        str(status.min_replicas), str(status.max_replicas), str(status.current_replicas),
        str(status.desired_replicas), metrics, conditions,
    )  # fmt: skip
    return table


def print_scale(console: Console, result: ScaleResult) -> None:
    plan = result.plan
    console.print(
        f"deployment/{plan.service}: {plan.current} → {result.replicas_after} replicas ({result.action.value})"
    )
    if result.hpa_after is not None:
        console.print(hpa_table(result.hpa_after))


def print_debug(console: Console, result: DebugResult) -> None:
    if result.pods is not None:
        table = Table(title=f"Pods in {result.namespace}", title_justify="left")
        for column in ("NAME", "SERVICE", "READY", "STATUS", "RESTARTS", "AGE", "NODE"):
            table.add_column(column)
        for row in result.pods:
            style = "" if row.status in ("Running", "Succeeded") else "yellow"
            table.add_row(
                row.name,
                row.service,
                row.ready,
                Text(row.status, style=style),
                str(row.restarts),
                row.age,
                row.node,
            )
        console.print(table)
    if result.events is not None and result.action == "events":
        console.print(events_table(result.events, f"Events for {result.pod or result.namespace}"))
    if result.command is not None and result.exit_code:
        console.print(Text(f"kubectl exited with {result.exit_code}", style="red"))
