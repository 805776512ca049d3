"""PostgreSQL's connection budget: the most connections the app's clients can hold at once, against
what the server lets them open.

The one place of this arithmetic. ``tests/k8s/test_connection_budget.py`` runs it on every rendered
environment and ``leadgen k8s scale`` on the objects it reads from the cluster before it raises a
maximum, so the two cannot disagree. Pure: Kubernetes objects in (rendered, or as ``kubectl get -o
json`` prints them), numbers out.

A process pools its connections per SQLAlchemy engine: at most ``LEADGEN_DB_POOL_SIZE +
LEADGEN_DB_MAX_OVERFLOW`` each (QueuePool), and it keeps them open until the process ends. The worst
case of an environment is every database client at the most pods it can have at once
(:func:`rollout_pods`), every pool full, the migration Job running and the server's other clients
connected. It must fit in ``max_connections`` less the slots PostgreSQL keeps for superusers
(``superuser_reserved_connections`` and ``reserved_connections``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]

# Engines per process of each target that uses the database: one for the process
# (leadgen/core/server.py), and one more for the Celery tasks a process runs when it consumes
# queues (leadgen/core/runtime.py, TaskRuntime). tests/k8s/test_connection_budget.py checks this
# against the app (leadgen.targets.registry and core.server.worker_queues) in every environment.
ENGINES: dict[str, int] = {"api": 1, "data-service": 1, "orchestrator": 2, "backend": 1, "worker": 2}
# `leadgen db upgrade` opens two engines, the advisory lock's (leadgen/core/migrate.py) and
# Alembic's (leadgen/migrations/env.py), of one connection each (the Job's env; the test checks it).
MIGRATION_ENGINES = 2
MIGRATION_POOL = 1
# Clients outside the app's pools, stated rather than derived: their images hold a connection or
# two each, and a person may be connected while the app is at its peak.
OTHER_CLIENTS: dict[str, int] = {
    "metrics (the postgres-exporter sidecar; in prod CloudNativePG's instance manager)": 2,
    "backup (the pg_dump CronJob; in prod a Barman Cloud base backup)": 2,
    "CloudNativePG's instance manager itself (status, replication)": 3,
    "operators (psql, `leadgen` commands through kubectl exec)": 3,
}
# PostgreSQL's defaults where the server's configuration does not set them.
POSTGRES_DEFAULTS: dict[str, str] = {
    "max_connections": "100",
    "superuser_reserved_connections": "3",
    "reserved_connections": "0",
}
# The app's pool where a workload sets none (leadgen.core.settings.DatabaseSettings; the test
# compares with the Settings the process builds).
DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 10
# Kubernetes' default maxSurge of a RollingUpdate.
DEFAULT_MAX_SURGE = "25%"
# The Secret that carries the app's database URL (its name, not a secret).
DB_CLIENT_SECRET = "leadgen-db-client"  # noqa: S105
POSTGRES = "postgres"
_HASHED = re.compile(r"-[a-z0-9]{10}$")  # kustomize's suffix on generated ConfigMaps and Secrets
_SETTING = re.compile(r"^\s*(\w+)\s*=\s*'?([^'#]*?)'?\s*(#.*)?$")


@dataclass(frozen=True)
class Pods:
    """The most pods of one Deployment that can hold connections at the same moment."""

    serving: int  # HPA maximum, or replicas without an HPA
    surge: int = 0  # new pods a rolling update adds beyond ``serving``
    draining: int = 0  # old pods told to stop that still hold their pools

    @property
    def total(self) -> int:
        return self.serving + self.surge + self.draining

    def __str__(self) -> str:
        if not self.surge and not self.draining:
            return f"{self.total} pod" + ("s" if self.total != 1 else "")
        return f"{self.total} pods ({self.serving} + {self.surge} surge + {self.draining} draining)"


def max_surge(replicas: int, strategy: Obj) -> int:
    """maxSurge of a RollingUpdate in pods: a percentage of ``replicas`` rounds up (Kubernetes)."""
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", DEFAULT_MAX_SURGE)
    if isinstance(surge, str) and surge.endswith("%"):
        return math.ceil(replicas * int(surge[:-1]) / 100)
    return int(surge)


def rollout_pods(most: int, strategy: Obj) -> Pods:
    """The most pods of a Deployment of at most ``most`` replicas that may be connected at once.

    ``Recreate`` stops every old pod, and waits until it is gone, before it starts a new one:
    ``most``.

    ``RollingUpdate``: ``most`` old pods draining, plus ``most`` + maxSurge that are not. The
    Deployment controller keeps the pods that are *not terminating* within replicas + maxSurge,
    and does not count terminating ones: Kubernetes 1.33 only reports them
    (``status.terminatingReplicas``, https://github.com/kubernetes/enhancements/issues/3973), and
    a policy that waits for them before creating new pods is still a proposal (KEP-5882). An old pod
    holds its pools until its process exits, up to terminationGracePeriodSeconds after it was told
    to stop (120 s for the worker, which finishes its tasks first; 45 s for the HTTP apps), while a
    new pod is ready in seconds. So a rollout can have replaced every old pod before the first of
    them has closed its connections: up to ``most`` pods draining (one generation, which had at
    most the maximum) beside the ones that are not terminating. The same bound covers an HPA
    that scales down and, within a grace period, up again (the pods it removed drain beside the new
    ones). maxUnavailable does not matter: it only lets old pods stop earlier.

    It assumes one such change per grace period: a second rollout of the same Deployment (a deploy
    or rollback right after another) before the first one's old pods have gone can stack a third
    generation. ``leadgen k8s deploy`` waits for the new pods, not for the old ones to be gone, so
    leave the longest grace period (two minutes) between releases.
    """
    if strategy.get("type") == "Recreate":
        return Pods(most)
    return Pods(most, max_surge(most, strategy), most)


@dataclass(frozen=True)
class Share:
    """The connections one workload may hold at once."""

    workload: str
    pods: Pods
    engines: int
    pool: int

    @property
    def connections(self) -> int:
        return self.pods.total * self.engines * self.pool

    @property
    def how(self) -> str:
        return f"{self.pods} x {self.engines} engines x {self.pool} connections"


@dataclass(frozen=True)
class Budget:
    """An environment's worst case against what its PostgreSQL allows."""

    shares: tuple[Share, ...]
    max_connections: int
    reserved: int
    others: tuple[tuple[str, int], ...] = tuple(OTHER_CLIENTS.items())
    # Workloads given the app's database URL that no share accounts for (then the budget is wrong).
    unaccounted: tuple[str, ...] = ()

    @property
    def worst(self) -> int:
        return sum(s.connections for s in self.shares) + sum(n for _, n in self.others)

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved

    @property
    def spare(self) -> int:
        return self.available - self.worst

    @property
    def fits(self) -> bool:
        return self.worst <= self.available

    def share(self, workload: str) -> Share | None:
        return next((s for s in self.shares if s.workload == workload), None)

    def server(self) -> str:
        return f"max_connections {self.max_connections} less {self.reserved} reserved for superusers"

    def breakdown(self) -> list[str]:
        lines = [f"{s.connections:>5}  {s.workload} ({s.how})" for s in self.shares]
        return lines + [f"{count:>5}  {client}" for client, count in self.others]


@dataclass(frozen=True)
class Objects:
    """What the budget reads, by kind: rendered manifests or the cluster's objects."""

    deployments: tuple[Obj, ...] = ()
    autoscalers: tuple[Obj, ...] = ()
    config_maps: tuple[Obj, ...] = ()
    postgres: Obj | None = None  # the CloudNativePG Cluster or the StatefulSet named postgres
    # Other workloads that may be database clients (Jobs, CronJobs, StatefulSets).
    other_workloads: tuple[Obj, ...] = ()

    @classmethod
    def of(cls, resources: Iterable[Obj]) -> Objects:
        """Sort a rendered overlay's resources."""
        listed = list(resources)

        def kind(*kinds: str) -> tuple[Obj, ...]:
            return tuple(r for r in listed if r.get("kind") in kinds)

        servers = [r for r in kind("Cluster", "StatefulSet") if r["metadata"]["name"] == POSTGRES]
        clusters = [r for r in servers if r["kind"] == "Cluster"]
        return cls(
            deployments=kind("Deployment"),
            autoscalers=kind("HorizontalPodAutoscaler"),
            config_maps=kind("ConfigMap"),
            postgres=next(iter(clusters or servers), None),
            other_workloads=kind("StatefulSet", "Job", "CronJob"),
        )


def served_target(workload: Obj) -> str | None:
    """The target a workload runs (``leadgen serve --target T``), if it runs one."""
    for container in _containers(workload):
        args = container.get("args") or []
        if list(args[:2]) == ["serve", "--target"] and len(args) > 2:
            return str(args[2])
    return None


def container_env(config_maps: Iterable[Obj], container: Obj) -> dict[str, str]:
    """A container's environment from its ConfigMaps (envFrom, in order) and literal ``env``.

    Secrets are not read: the CLI has no business reading them, and the test checks that the
    result equals the Settings the process builds with its Secrets too."""
    by_name = {c["metadata"]["name"]: c for c in config_maps}
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref and ref["name"] in by_name:
            env.update({k: str(v) for k, v in (by_name[ref["name"]].get("data") or {}).items()})
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
    return env


def pool_of(env: Mapping[str, str]) -> int:
    """Connections one engine may hold: pool plus overflow."""
    size = int(env.get("LEADGEN_DB_POOL_SIZE", DEFAULT_POOL_SIZE))
    return size + int(env.get("LEADGEN_DB_MAX_OVERFLOW", DEFAULT_MAX_OVERFLOW))


def hpa_maximum(autoscalers: Iterable[Obj], deployment: str) -> int | None:
    for hpa in autoscalers:
        ref = hpa["spec"]["scaleTargetRef"]
        if ref.get("kind") == "Deployment" and ref.get("name") == deployment:
            return int(hpa["spec"]["maxReplicas"])
    return None


def deployment_share(deployment: Obj, objects: Objects, most: int | None = None) -> Share | None:
    """A Deployment's worst case; None when it does not use the database. ``most`` replaces its
    maximum (the HPA's maxReplicas, or replicas without an HPA)."""
    target = served_target(deployment)
    if target not in ENGINES:
        return None
    name = deployment["metadata"]["name"]
    if most is None:
        most = hpa_maximum(objects.autoscalers, name)
    if most is None:
        most = int(deployment["spec"].get("replicas", 1))
    pods = rollout_pods(most, deployment["spec"].get("strategy") or {})
    container = _containers(deployment)[0]
    return Share(name, pods, ENGINES[target], pool_of(container_env(objects.config_maps, container)))


def postgres_parameters(objects: Objects) -> dict[str, str]:
    """The parameters the server starts with: the CloudNativePG Cluster's, or the StatefulSet's
    config file (the ConfigMap it mounts) overridden by its ``-c`` arguments."""
    parameters = dict(POSTGRES_DEFAULTS)
    server = objects.postgres
    if server is None:
        raise LookupError(f"no CloudNativePG Cluster or StatefulSet named {POSTGRES}")
    if server["kind"] == "Cluster":
        given = ((server["spec"].get("postgresql") or {}).get("parameters")) or {}
        parameters.update({k: str(v) for k, v in given.items()})
        return parameters
    mounted = {v["configMap"]["name"] for v in _pod_spec(server).get("volumes") or [] if "configMap" in v}
    for config_map in objects.config_maps:
        data = config_map.get("data") or {}
        if config_map["metadata"]["name"] in mounted and "postgresql.conf" in data:
            for line in data["postgresql.conf"].splitlines():
                setting = _SETTING.match(line)
                if setting:
                    parameters[setting.group(1)] = setting.group(2)
    container = next((c for c in _containers(server) if c.get("name") == POSTGRES), _containers(server)[0])
    for flag, value in itertools.pairwise(container.get("args") or []):
        if flag == "-c":
            name, _, setting_value = value.partition("=")
            parameters[name] = setting_value
    return parameters


def database_clients(workloads: Iterable[Obj]) -> set[str]:
    """Workloads given the app's database URL (the Secret leadgen-db-client, maybe hash-suffixed)."""
    return {w["metadata"]["name"] for w in workloads if DB_CLIENT_SECRET in _secret_names(w)}


def budget_of(objects: Objects, maxima: Mapping[str, int] | None = None) -> Budget:
    """The worst case of every database client in ``objects``; ``maxima`` replaces the maximum of
    the named Deployments (a change being considered)."""
    maxima = maxima or {}
    shares: list[Share] = []
    for deployment in objects.deployments:
        found = deployment_share(deployment, objects, maxima.get(deployment["metadata"]["name"]))
        if found is not None:
            shares.append(found)
    shares.append(Share("db-migrate", Pods(1), MIGRATION_ENGINES, MIGRATION_POOL))
    parameters = postgres_parameters(objects)
    reserved = int(parameters["superuser_reserved_connections"]) + int(parameters["reserved_connections"])
    counted = {s.workload for s in shares}
    clients = database_clients([*objects.deployments, *objects.other_workloads])
    return Budget(
        tuple(shares),
        int(parameters["max_connections"]),
        reserved,
        unaccounted=tuple(sorted(clients - counted)),
    )


@dataclass(frozen=True)
class MaximumCheck:
    """Whether ``workload`` may have up to ``maximum`` replicas within the database's connections."""

    workload: str
    maximum: int
    fits: bool
    worst: int  # the environment's worst case with this maximum
    available: int  # max_connections less the superuser slots
    max_connections: int
    reserved: int
    share: str  # how the workload's own share adds up
    # The highest maximum that fits (0: not even one pod), when ``maximum`` does not.
    highest_fitting: int | None = None
    bound: str = "maxReplicas"  # what ``maximum`` is: the HPA's maxReplicas, or a Deployment's replicas

    @property
    def message(self) -> str:
        change = f"{self.bound} {self.maximum} for {self.workload}"
        if self.fits:
            return (
                f"{change}: at most {self.worst} PostgreSQL connections at once, within the "
                f"{self.available} the server allows ({self.available - self.worst} spare)"
            )
        fitting = (
            f"{self.workload} fits up to {self.bound} {self.highest_fitting}"
            if self.highest_fitting
            else f"not even one pod of {self.workload} fits"
        )
        return (
            f"{change} would let the database clients hold up to {self.worst} PostgreSQL connections "
            f"at once ({self.workload}: {self.share}), but the server allows {self.available} "
            f"(max_connections {self.max_connections} less {self.reserved} reserved for superusers); "
            f"{fitting}."
        )


def check_maximum(objects: Objects, workload: str, maximum: int, *, bound: str = "maxReplicas") -> MaximumCheck:
    """Whether the environment's worst case fits with ``workload`` at ``maximum`` replicas at most."""
    budget = budget_of(objects, {workload: maximum})
    share = budget.share(workload)
    if share is None:
        raise LookupError(f"deployment/{workload} is not a database client")
    highest = None
    if not budget.fits:
        rest = budget.worst - share.connections
        per_pod = share.engines * share.pool
        deployment = next(d for d in objects.deployments if d["metadata"]["name"] == workload)
        strategy = deployment["spec"].get("strategy") or {}
        fitting = (
            m for m in range(maximum - 1, 0, -1) if rest + rollout_pods(m, strategy).total * per_pod <= budget.available
        )
        highest = next(fitting, 0)
    return MaximumCheck(
        workload,
        maximum,
        budget.fits,
        budget.worst,
        budget.available,
        budget.max_connections,
        budget.reserved,
        share.how,
        highest,
        bound,
    )


def _pod_spec(workload: Obj) -> Obj:
    spec = workload["spec"]
    if workload.get("kind") == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: Obj = spec["template"]["spec"]
    return pod


def _containers(workload: Obj) -> list[Obj]:
    return list(_pod_spec(workload).get("containers") or [])


def _secret_names(workload: Obj) -> set[str]:
    pod = _pod_spec(workload)
    names: list[str] = []
    for volume in pod.get("volumes") or []:
        if "secret" in volume:
            names.append(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in source:
                names.append(source["secret"]["name"])
    for container in _containers(workload):
        names += [s["secretRef"]["name"] for s in container.get("envFrom") or [] if "secretRef" in s]
    return {_HASHED.sub("", n) for n in names}
