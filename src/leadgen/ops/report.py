"""Results the commands return, and the interfaces they use to talk to a person.

Commands never print: they report steps to a ``Reporter`` and ask through a ``Prompter``, so the
same code serves Rich output, ``--json`` and tests.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from leadgen.ops.rules.manifests import Finding
from leadgen.ops.rules.workloads import EventLine, PodProblem


class StepStatus(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepResult:
    name: str
    status: StepStatus
    detail: str = ""


@dataclass(frozen=True)
class Failure:
    """What failed, and the evidence a person needs to fix it."""

    resource: str
    message: str
    problem: PodProblem | None = None
    events: tuple[EventLine, ...] = ()
    logs: tuple[str, ...] = ()
    hint: str | None = None


@dataclass
class Steps:
    """The steps of one command, in order, with the first failure."""

    steps: list[StepResult] = field(default_factory=list)
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and all(s.status is not StepStatus.FAILED for s in self.steps)


class Reporter(Protocol):
    """Receives progress; the Rich reporter shows it, the JSON one stays silent."""

    def started(self, name: str, description: str) -> None: ...

    def finished(self, step: StepResult) -> None: ...

    def info(self, message: str) -> None: ...

    def findings(self, findings: list[Finding]) -> None: ...

    def diff(self, text: str) -> None: ...


class Prompter(Protocol):
    """Asks a person; raises UsageError when there is nobody to ask (no terminal)."""

    def confirm(self, question: str, *, hint: str) -> bool: ...

    def confirm_typed(self, question: str, expected: str, *, hint: str) -> bool: ...

    def choose(self, question: str, options: list[str]) -> int: ...


class SilentReporter:
    def started(self, name: str, description: str) -> None:
        pass

    def finished(self, step: StepResult) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def findings(self, findings: list[Finding]) -> None:
        pass

    def diff(self, text: str) -> None:
        pass


def to_json(value: Any) -> Any:
    """Dataclasses, enums and tuples as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value
