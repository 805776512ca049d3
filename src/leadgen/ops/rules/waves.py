"""The waves in which ``leadgen k8s deploy`` applies the application workloads.

A server of a release also takes what the clients of the previous release send, but not the
other way round: an api of the previous release refuses the new quote form's body (``422``). So
every backend the frontend calls must run the new release before the frontend does. Deploy
applies one wave, waits for its rollouts, and only then applies the next; when a rollout fails,
the later waves are not applied and keep running the previous release. A rollback goes the other
way, the last wave first (``rollback_order``), so no client ever runs a newer release than a
server it calls; a rollback back to a newer release goes deploy's way (``rollout_order``).

``WAVES`` says which wave each app is in, keyed by the app a workload belongs to: its
``app.kubernetes.io/name`` label (a canary ``api-canary`` labelled ``api`` goes with api), and
for an HPA the Deployment it scales. A workload of no app in the table has no wave, and
validation refuses the render: a guessed place could put a backend after the clients needing it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from leadgen.ops import contract
from leadgen.ops.contract import Service
from leadgen.ops.errors import RuleError

if TYPE_CHECKING:  # manifests imports this module to check the waves
    from leadgen.ops.rules.manifests import Resource

# What deploy applies in waves after the migration Job; every other kind is a prerequisite.
WORKLOAD_KINDS: frozenset[str] = frozenset({"Deployment", "HorizontalPodAutoscaler", "CronJob"})
WAVES_TABLE = "WAVES in src/leadgen/ops/rules/waves.py"


class Wave(enum.StrEnum):
    """A wave of workloads; deploy applies them in the order they are declared here."""

    # Everything the frontend calls, and whatever calls none of our servers.
    BACKENDS = "backends"
    # What calls the backends. The gateway is no workload of ours (Envoy Gateway runs it); its
    # routes point at Services, which a release does not replace.
    FRONTEND = "frontend"

    @property
    def number(self) -> int:
        return list(Wave).index(self) + 1


# The servers the frontend calls (LEADGEN_SERVICES_*_URL in k8s/base/frontend/config.env).
FRONTEND_CALLS: tuple[str, ...] = (Service.API, Service.DATA_SERVICE, Service.ORCHESTRATOR)

WAVES: dict[str, Wave] = {
    **dict.fromkeys(FRONTEND_CALLS, Wave.BACKENDS),
    # Served at the edge only (notifications, jobs), calling no server: it rolls with the others.
    Service.BACKEND: Wave.BACKENDS,
    # Celery: they take tasks from the queues and call no server, so they roll with the api that
    # sends them their tasks, as every Deployment did before waves.
    Service.WORKER: Wave.BACKENDS,
    Service.SCHEDULER: Wave.BACKENDS,
    Service.FRONTEND: Wave.FRONTEND,
    # The nightly dump of the dev and staging PostgreSQL (prod backs up through CloudNativePG):
    # no app code, so no order to keep; it goes first.
    "postgres-backup": Wave.BACKENDS,
}


def app_of(workload: Resource) -> str:
    """The app a workload belongs to: its ``app.kubernetes.io/name`` label, else its name."""
    labels = (workload.body.get("metadata") or {}).get("labels") or {}
    return str(labels.get(contract.NAME_LABEL) or workload.name)


def wave_of(workload: Resource, render: Sequence[Resource]) -> Wave | None:
    """The wave of one workload of ``render``: an HPA goes with what it scales."""
    owner = workload
    if workload.kind == "HorizontalPodAutoscaler":
        target = (workload.body.get("spec") or {}).get("scaleTargetRef") or {}
        owner = next(
            (r for r in render if r.kind == target.get("kind") and r.name == target.get("name")),
            workload,
        )
    return WAVES.get(app_of(owner))


def unassigned(render: Sequence[Resource]) -> list[Resource]:
    """The workloads of ``render`` that are in no wave."""
    return [r for r in render if r.kind in WORKLOAD_KINDS and wave_of(r, render) is None]


def in_waves(workloads: Sequence[Resource]) -> list[tuple[Wave, list[Resource]]]:
    """The workloads of each wave in the order deploy applies them, each in render order; a wave
    with no workload is left out.

    Raises:
        RuleError: a workload is in no wave (validation refuses such a render before this).
    """
    grouped: dict[Wave, list[Resource]] = {wave: [] for wave in Wave}
    left_out: list[Resource] = []
    for res in workloads:
        wave = wave_of(res, workloads)
        (left_out if wave is None else grouped[wave]).append(res)
    if left_out:
        raise RuleError(
            f"{', '.join(r.ref for r in left_out)} in no rollout wave",
            hint=f"Add its {contract.NAME_LABEL} to {WAVES_TABLE}.",
        )
    return [(wave, members) for wave, members in grouped.items() if members]


def rollback_order(apps: Iterable[str]) -> list[str]:
    """``apps`` (each in ``WAVES``) in the order a rollback undoes them: the last wave first, each
    wave in the order given. The frontend goes back before the backends it calls, so a rollback
    that stops part way leaves an older frontend on newer backends, which they serve."""
    return sorted(apps, key=lambda app: -WAVES[app].number)


def rollout_order(apps: Iterable[str]) -> list[str]:
    """``apps`` in deploy's order, the first wave first: how a move to a newer release (a rollback
    undone with ``--to-release``) takes them, for the same reason deploy does."""
    return sorted(apps, key=lambda app: WAVES[app].number)
