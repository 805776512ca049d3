"""PostgreSQL's connection budget holds in every environment at its worst case.

Every process that uses the database pools its connections per engine: at most
``LEADGEN_DB_POOL_SIZE + LEADGEN_DB_MAX_OVERFLOW`` (SQLAlchemy's QueuePool). The worst case of a
render is every Deployment at its HPA maximum plus the pods a rollout surges, every pool full,
the migration Job running and the server's other clients connected. It must fit in
``max_connections`` less the slots PostgreSQL keeps for superusers, as the server of that render
starts: the postgres StatefulSet's config file and ``-c`` arguments, or the CloudNativePG
Cluster's parameters.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass

import pytest

from leadgen.core.server import worker_queues
from leadgen.core.settings import Settings
from leadgen.targets.registry import DB, TARGETS

from .render import (
    Resource,
    app_deployment,
    container_env,
    containers,
    find,
    mounted_secret_names,
    of_kind,
    render,
    workloads,
)

RENDERS = ("base", "overlays/dev", "overlays/staging", "overlays/prod", "variants/dev-gke", "variants/prod-gke")

# `leadgen db upgrade` opens two engines: the advisory lock's (leadgen/core/migrate.py) and
# Alembic's (leadgen/migrations/env.py).
MIGRATION_ENGINES = 2
# Clients outside the app's pools, stated rather than derived: their images hold a connection or
# two each, and a person may be connected while the app is at its peak.
OTHER_CLIENTS = {
    "metrics (the postgres-exporter sidecar; in prod CloudNativePG's instance manager)": 2,
    "backup (the pg_dump CronJob; in prod a Barman Cloud base backup)": 2,
    "CloudNativePG's instance manager itself (status, replication)": 3,
    "operators (psql, `leadgen` commands through kubectl exec)": 3,
}
# PostgreSQL's defaults where the render does not set them.
POSTGRES_DEFAULTS = {"max_connections": "100", "superuser_reserved_connections": "3", "reserved_connections": "0"}


@dataclass(frozen=True)
class Share:
    """The connections one workload may hold at once."""

    workload: str
    how: str
    connections: int


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a process builds from exactly this environment."""
    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("LEADGEN_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        return Settings()


def engines_per_process(settings: Settings, target: str) -> int:
    """One engine for the process (leadgen/core/server.py), and one more for the Celery tasks a
    process runs when it consumes queues (leadgen/core/runtime.py, TaskRuntime)."""
    return 1 + bool(worker_queues(settings, [TARGETS[target]]))


def max_pods(resources: list[Resource], deployment: Resource) -> int:
    """HPA maximum (or replicas) plus the pods a rolling update adds (maxSurge rounds up)."""
    name = deployment["metadata"]["name"]
    scalers = [
        h["spec"]["maxReplicas"]
        for h in of_kind(resources, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["kind"] == "Deployment" and h["spec"]["scaleTargetRef"]["name"] == name
    ]
    replicas: int = scalers[0] if scalers else deployment["spec"].get("replicas", 1)
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return replicas
    surge = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")  # Kubernetes' default
    if isinstance(surge, str):
        return replicas + math.ceil(replicas * int(surge.rstrip("%")) / 100)
    return replicas + int(surge)


def app_shares(resources: list[Resource], monkeypatch: pytest.MonkeyPatch) -> list[Share]:
    """The worst case of the app's Deployments that use the database, and of the migration Job."""
    shares = []
    for target, spec in TARGETS.items():
        if DB not in spec.needs:
            continue
        deployment = app_deployment(resources, target)
        settings = settings_of(container_env(resources, containers(deployment, init=False)[0]), monkeypatch)
        pool = settings.db.pool_size + settings.db.max_overflow
        pods = max_pods(resources, deployment)
        engines = engines_per_process(settings, target)
        how = f"{pods} pods x {engines} engines x {pool}"
        shares.append(Share(deployment["metadata"]["name"], how, pods * engines * pool))
    job = find(resources, "Job", "db-migrate")
    settings = settings_of(container_env(resources, containers(job, init=False)[0]), monkeypatch)
    pool = settings.db.pool_size + settings.db.max_overflow
    shares.append(Share("db-migrate", f"{MIGRATION_ENGINES} engines x {pool}", MIGRATION_ENGINES * pool))
    return shares


def server_parameters(resources: list[Resource]) -> dict[str, str]:
    """The connection parameters the render's PostgreSQL starts with."""
    parameters = dict(POSTGRES_DEFAULTS)
    clusters = of_kind(resources, "Cluster")
    if clusters:
        parameters.update(find(clusters, "Cluster", "postgres")["spec"]["postgresql"]["parameters"])
        return parameters
    statefulset = find(resources, "StatefulSet", "postgres")
    config_files = [c for c in of_kind(resources, "ConfigMap") if "postgresql.conf" in c.get("data", {})]
    assert len(config_files) == 1, "one ConfigMap carries postgresql.conf"
    for line in config_files[0]["data"]["postgresql.conf"].splitlines():
        setting = re.match(r"^\s*(\w+)\s*=\s*'?([^'#]*?)'?\s*(#.*)?$", line)
        if setting:
            parameters[setting.group(1)] = setting.group(2)
    args = containers(statefulset, init=False)[0].get("args", [])
    for flag, value in itertools.pairwise(args):
        if flag == "-c":
            name, _, setting_value = value.partition("=")
            parameters[name] = setting_value
    return parameters


def database_clients(resources: list[Resource]) -> set[str]:
    """Workloads that get the app's database URL (generated Secrets carry a hash suffix)."""
    return {
        w["metadata"]["name"]
        for w in workloads(resources)
        if "leadgen-db-client" in {re.sub(r"-[a-z0-9]{10}$", "", s) for s in mounted_secret_names(w)}
    }


@pytest.mark.parametrize("relative", RENDERS)
def test_worst_case_fits_in_max_connections(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = render(relative)
    shares = app_shares(resources, monkeypatch)
    assert database_clients(resources) <= {s.workload for s in shares}, "a database client is left out"

    parameters = server_parameters(resources)
    max_connections = int(parameters["max_connections"])
    reserved = int(parameters["superuser_reserved_connections"]) + int(parameters["reserved_connections"])
    available = max_connections - reserved
    worst = sum(s.connections for s in shares) + sum(OTHER_CLIENTS.values())
    lines = [f"{s.connections:>5}  {s.workload} ({s.how})" for s in shares]
    lines += [f"{count:>5}  {client}" for client, count in OTHER_CLIENTS.items()]
    assert worst <= available, (
        f"{relative}: up to {worst} connections, but max_connections {max_connections} less {reserved} "
        f"reserved for superusers leaves {available}:\n" + "\n".join(lines)
    )
