"""PostgreSQL's connection budget holds in every deployed environment at its worst case.

The arithmetic is ``leadgen.ops.rules.connections``, which ``leadgen k8s scale`` also runs before
it raises a maximum; this suite runs it on every render in ``render.DEPLOYABLE`` that has a
database, and checks that its inputs are what the processes really build.

The worst case of a render: every database client at the most pods it can have at once, every pool
full (``LEADGEN_DB_POOL_SIZE + LEADGEN_DB_MAX_OVERFLOW`` per engine; the orchestrator and the worker
have two engines, the second for the Celery tasks they run), the migration Job running and the
server's other clients connected. It must fit in ``max_connections`` less the slots PostgreSQL keeps
for superusers, as the server of that render starts (the postgres StatefulSet's config file and
``-c`` arguments, or the CloudNativePG Cluster's parameters).

The most pods of a Deployment at once, HPA maximum M (or replicas), surge S (maxSurge of M, rounded
up):

- ``RollingUpdate``: 2M + S. Kubernetes keeps the pods that are *not terminating* within
  replicas + maxSurge, and does not count terminating pods against it (1.33 only reports them,
  ``status.terminatingReplicas`` of KEP-3973; waiting for them is the KEP-5882 proposal). A pod
  told to stop keeps its pools until its process exits, up to its terminationGracePeriodSeconds
  (the worker's 420 s, so that it finishes the send in progress; 45 s for the HTTP apps), while its
  replacement is ready within seconds (minReadySeconds 5). So before the first
  old pod has closed its connections the rollout can have replaced them all: up to M old pods
  draining next to up to M + S that are not terminating. maxUnavailable (0 here) changes nothing:
  it only lets old pods stop sooner. A tighter bound (2M: the old ReplicaSet's pods plus the new
  one's, which never exceeds replicas) holds only if the HPA does not change replicas during the
  rollout; its proportional scaling hands the surge to whichever ReplicaSet, so we keep S.
- ``Recreate`` (the scheduler): M; the old pods are gone before new ones start.

It assumes one rollout (or one HPA scale-down and up again) per grace period: a second rollout of
the same Deployment while the first one's old pods still drain can stack a third generation, which
is why docs/KUBERNETES_SETUP.md asks for two minutes between releases.

The server's memory must hold its ``max_connections``: ``MIB_PER_CONNECTION`` each beside its shared
buffers, its autovacuum workers' ``maintenance_work_mem`` and ``OVERHEAD_MIB``
(docs/KUBERNETES_SETUP.md, datastore notes, says why these numbers).
"""

from __future__ import annotations

import os

import pytest

from leadgen.core.server import worker_queues
from leadgen.core.settings import Settings
from leadgen.ops.rules import connections
from leadgen.ops.rules.connections import Budget, Objects, Pods, rollout_pods
from leadgen.targets.registry import DB, TARGETS

from .render import (
    DEPLOYABLE,
    K8S_UNITS_MIB,
    Resource,
    app_deployment,
    container_env,
    containers,
    find,
    mib,
    render,
)

# Memory of a connection: a backend's own memory (about 2 MiB idle), its page tables over the
# shared buffers (up to 4 MiB over 2 GB of 4 KiB pages, no huge pages in these pods), catalog and
# plan caches, and room for a sort or hash of work_mem (8MB) while it runs. AWS RDS's default
# max_connections allows one per 9 MiB or so of instance memory (DBInstanceClassMemory/9531392).
MIB_PER_CONNECTION = 10
# Besides shared buffers, autovacuum and connections: the postmaster and background processes,
# wal_buffers, parallel workers, one operator's CREATE INDEX (maintenance_work_mem), and in prod
# CloudNativePG's instance manager in the same container.
OVERHEAD_MIB = 1024
PG_UNITS_MIB = {"kB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024}


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


def has_database(resources: list[Resource]) -> bool:
    objects = Objects.of(resources)
    return objects.postgres is not None or bool(connections.database_clients(objects.deployments))


def database_render(relative: str) -> list[Resource]:
    resources = render(relative)
    if not has_database(resources):
        pytest.skip(f"{relative} runs no database and no database client")
    return resources


def budget(relative: str) -> Budget:
    return connections.budget_of(Objects.of(database_render(relative)))


def server_memory_mib(objects: Objects) -> float:
    """The memory limit of the PostgreSQL server's container (where it is OOM-killed)."""
    server = objects.postgres
    assert server is not None
    if server["kind"] == "Cluster":
        resources = server["spec"]["resources"]
    else:
        resources = next(c for c in containers(dict(server), init=False) if c["name"] == "postgres")["resources"]
    return mib(str(resources["limits"]["memory"]), K8S_UNITS_MIB)


@pytest.mark.parametrize("relative", DEPLOYABLE)
def test_worst_case_fits_in_max_connections(relative: str) -> None:
    found = budget(relative)
    assert not found.unaccounted, f"{relative}: database clients left out: {found.unaccounted}"
    assert found.fits, (
        f"{relative}: up to {found.worst} connections, but {found.server()} leaves {found.available}:\n"
        + "\n".join(found.breakdown())
    )


@pytest.mark.parametrize("relative", DEPLOYABLE)
def test_the_rule_counts_what_the_processes_build(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pools and engines as the rule reads them (ConfigMaps and env only, the table of engines)
    are what each process builds from its whole environment (Secrets too) and the target registry."""
    resources = database_render(relative)
    objects = Objects.of(resources)
    assert set(connections.ENGINES) == {t for t, spec in TARGETS.items() if DB in spec.needs}
    for target in connections.ENGINES:
        deployment = app_deployment(resources, target)
        container = containers(deployment, init=False)[0]
        settings = settings_of(container_env(resources, container), monkeypatch)
        share = connections.deployment_share(deployment, objects)
        assert share is not None, target
        assert share.pool == settings.db.pool_size + settings.db.max_overflow, target
        assert share.engines == engines_per_process(settings, target), target
    job = find(resources, "Job", "db-migrate")
    settings = settings_of(container_env(resources, containers(job, init=False)[0]), monkeypatch)
    assert settings.db.pool_size + settings.db.max_overflow == connections.MIGRATION_POOL


def test_a_workload_without_pool_settings_gets_the_apps_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of({}, monkeypatch)
    assert connections.pool_of({}) == settings.db.pool_size + settings.db.max_overflow


@pytest.mark.parametrize("relative", DEPLOYABLE)
def test_task_pools_cover_their_concurrency(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that runs Celery tasks runs worker.concurrency of them at once, each in its own
    unit of work: a smaller pool would keep tasks waiting for a connection, and failing after
    LEADGEN_DB_POOL_TIMEOUT_SECONDS."""
    resources = database_render(relative)
    for target in connections.ENGINES:
        container = containers(app_deployment(resources, target), init=False)[0]
        settings = settings_of(container_env(resources, container), monkeypatch)
        if worker_queues(settings, [TARGETS[target]]):
            pool = settings.db.pool_size + settings.db.max_overflow
            assert pool >= settings.worker.concurrency, f"{relative} {target}: pool {pool}"


@pytest.mark.parametrize("relative", DEPLOYABLE)
def test_server_memory_holds_its_connections(relative: str) -> None:
    objects = Objects.of(database_render(relative))
    parameters = connections.postgres_parameters(objects)

    def setting(name: str, default: str) -> float:
        return mib(parameters.get(name, default), PG_UNITS_MIB)

    # Autovacuum workers take maintenance_work_mem each (autovacuum_work_mem -1), at most 1GB (PG 16).
    autovacuum = int(parameters.get("autovacuum_max_workers", "3")) * min(setting("maintenance_work_mem", "64MB"), 1024)
    shared = setting("shared_buffers", "128MB")
    per_connection = int(parameters["max_connections"]) * MIB_PER_CONNECTION
    needed = shared + autovacuum + OVERHEAD_MIB + per_connection
    limit = server_memory_mib(objects)
    assert needed <= limit, (
        f"{relative}: PostgreSQL may need {needed:.0f} MiB (shared_buffers {shared:.0f}, autovacuum "
        f"{autovacuum:.0f}, other {OVERHEAD_MIB}, {parameters['max_connections']} connections x "
        f"{MIB_PER_CONNECTION}) but its memory limit is {limit:.0f} MiB"
    )


class TestRolloutPods:
    """The most pods of one Deployment connected at once (the model in this module's docstring)."""

    def test_a_rolling_update_counts_every_old_pod_still_draining(self) -> None:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
        assert rollout_pods(10, strategy) == Pods(serving=10, surge=3, draining=10)
        assert rollout_pods(10, strategy).total == 23

    def test_surge_as_a_count_and_by_default(self) -> None:
        assert rollout_pods(4, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}}).total == 10
        assert rollout_pods(2, {}).total == 5  # RollingUpdate and 25% (rounded up) by default

    def test_recreate_starts_new_pods_once_the_old_are_gone(self) -> None:
        assert rollout_pods(1, {"type": "Recreate"}) == Pods(1)

    def test_prod_worker_at_its_maximum(self) -> None:
        """The review's case: prod's worker, 10 pods at most with 25% surge and 420 s to drain."""
        share = budget("overlays/prod").share("worker")
        assert share is not None
        assert share.pods == Pods(serving=10, surge=3, draining=10)
