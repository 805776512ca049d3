"""The rendered overlay cut into the phases of a deploy, and how deploy names and sends them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from leadgen.ops import contract
from leadgen.ops.rules.manifests import Resource, active_deadline
from leadgen.ops.rules.waves import WORKLOAD_KINDS, Wave, in_waves

# How long past the migration Job's activeDeadlineSeconds deploy waits by default: the Job
# controller fails the Job at its deadline (DeadlineExceeded), and deploy reports that verdict
# and the pod's reason rather than a timeout of its own.
DEADLINE_MARGIN = 30


@dataclass
class Plan:
    """The rendered overlay cut into the phases of the deploy."""

    prerequisites: list[Resource]
    migration: Resource | None
    waves: list[tuple[Wave, list[Resource]]]

    @classmethod
    def of(cls, resources: Sequence[Resource]) -> Plan:
        migration = next((r for r in resources if r.kind == "Job" and r.name == contract.MIGRATION_JOB), None)
        rest = [r for r in resources if r is not migration]
        return cls(
            [r for r in rest if r.kind not in WORKLOAD_KINDS],
            migration,
            in_waves([r for r in rest if r.kind in WORKLOAD_KINDS]),
        )

    @property
    def workloads(self) -> list[Resource]:
        return [res for _, members in self.waves for res in members]

    @property
    def all_but_migration(self) -> list[Resource]:
        return self.prerequisites + self.workloads


def migration_timeout(job: Resource, given: int | None) -> int:
    """How long deploy waits for the migration Job: ``given`` (``--migration-timeout``), else the
    Job's own deadline and ``DEADLINE_MARGIN`` (validation refuses a Job without one)."""
    if given is not None:
        return given
    deadline = active_deadline(job)
    assert deadline is not None, "validation refuses a migration Job without activeDeadlineSeconds"
    return deadline + DEADLINE_MARGIN


def to_yaml(resources: list[Resource]) -> str:
    return yaml.safe_dump_all([r.body for r in resources], sort_keys=False)


def by_kind(resources: Sequence[Resource]) -> str:
    """``Deployment api, worker; HorizontalPodAutoscaler api``: shorter than a list of refs."""
    names: dict[str, list[str]] = {}
    for res in resources:
        names.setdefault(res.kind, []).append(res.name)
    return "; ".join(f"{kind} {', '.join(found)}" for kind, found in names.items())


def first_failing(stderr: str, resources: list[Resource]) -> str:
    """The resource kubectl names in its error, else the whole batch."""
    for res in resources:
        if f'"{res.name}"' in stderr or f"/{res.name}" in stderr:
            return res.ref
    return "apply"
