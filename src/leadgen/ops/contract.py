"""Names the manifests (``k8s/``), the image and the ``leadgen k8s`` commands agree on.

These are fixed by the service contract in BRIEF.md; a test checks the HTTP ports against
``leadgen.targets.registry``.
"""

from __future__ import annotations

import enum


class Environment(enum.StrEnum):
    """An overlay in ``k8s/overlays/<env>``, deployed to namespace ``leadgen-<env>``."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"

    @property
    def namespace(self) -> str:
        return f"leadgen-{self.value}"

    @property
    def uses_cnpg(self) -> bool:
        """Prod runs PostgreSQL as a CloudNativePG ``Cluster`` instead of a StatefulSet."""
        return self is Environment.PROD


class Service(enum.StrEnum):
    """The application Deployments (one ``leadgen serve --target`` each)."""

    API = "api"
    DATA_SERVICE = "data-service"
    ORCHESTRATOR = "orchestrator"
    BACKEND = "backend"
    WORKER = "worker"
    SCHEDULER = "scheduler"
    FRONTEND = "frontend"


DEPLOYMENTS: tuple[str, ...] = tuple(s.value for s in Service)
APP_IMAGE = "ghcr.io/leadgen/leadgen"
STORES: tuple[str, ...] = ("postgres", "redis", "neo4j", "qdrant")
POSTGRES = "postgres"

# Service port of each HTTP app, as the Service exposes it (frontend: container 8080, Service 80).
SERVICE_PORTS: dict[str, int] = {
    "api": 3000,
    "data-service": 3001,
    "orchestrator": 3002,
    "backend": 8000,
    "frontend": 80,
}
# Container port behind each Service port (what the process listens on).
CONTAINER_PORTS: dict[str, int] = {**SERVICE_PORTS, "frontend": 8080}
METRICS_PORT = 9090
READINESS_PATH = "/readyz"

# Exactly one scheduler: two Celery beats would send every periodic job twice.
SINGLETONS: frozenset[str] = frozenset({"scheduler"})

# The fewest replicas an HPA may keep in each environment: every overlay HPA's minReplicas, and
# above every PodDisruptionBudget's minAvailable, so a node drain can always evict one pod.
# tests/ops/test_manifests.py checks this table against the rendered overlays.
REPLICA_FLOORS: dict[Environment, int] = {Environment.DEV: 1, Environment.STAGING: 2, Environment.PROD: 3}

MIGRATION_JOB = "db-migrate"
MIGRATION_ARGS = ("db", "upgrade")

NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF = "leadgen"
PART_OF_SELECTOR = f"{PART_OF_LABEL}={PART_OF}"
# Set on a Job's pods by the Job controller (Kubernetes 1.27+; ``job-name`` before that).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

# Pod-template annotations deploy writes on every app Deployment and the migration Job: the
# release they belong to (rollback of every service goes back to one release), and the Alembic
# head that release migrated the database to, when the deploying CLI can know it.
RELEASE_ANNOTATION = "leadgen.io/release"
SCHEMA_HEAD_ANNOTATION = "leadgen.io/schema-head"

FIELD_MANAGER = "leadgen"
# Field manager for the HPA bounds `scale --hpa` changes, so an apply conflict names it.
SCALE_FIELD_MANAGER = "leadgen-scale"


# Facts about the environment a namespace holds, applied by every overlay
# (k8s/overlays/<env>/cluster-settings.yaml) and readable by every leadgen role.
CLUSTER_SETTINGS = "leadgen-cluster-settings"
CLUSTER_SETTINGS_ENVIRONMENT = "environment"
# The kubeconfig context of the environment's cluster (docs/KUBERNETES_SETUP.md names it
# leadgen-<env>); empty: any context (dev, on a laptop's kind or minikube).
CLUSTER_SETTINGS_KUBE_CONTEXT = "kubeContext"
# The context each environment's overlay names (kubeContext, as docs/KUBERNETES_SETUP.md names the
# clusters' contexts; tests/ops checks the two agree); None: any. What rollback, scale and debug
# require when the namespace's own settings cannot say (src/leadgen/ops/namespace.py).
DOCUMENTED_CONTEXTS: dict[Environment, str | None] = {
    Environment.DEV: None,
    Environment.STAGING: "leadgen-staging",
    Environment.PROD: "leadgen-prod",
}


def environment_named(namespace: str) -> Environment | None:
    """The environment a namespace's name claims: ``leadgen-<env>``, or ``leadgen-<env>-<suffix>``
    for a copy of one."""
    for env in Environment:
        if namespace == env.namespace or namespace.startswith(f"{env.namespace}-"):
            return env
    return None


def statefulsets(env: Environment) -> tuple[str, ...]:
    """The stores that run as StatefulSets in ``env``."""
    return tuple(s for s in STORES if not (env.uses_cnpg and s == POSTGRES))


def selector_for(service: str) -> str:
    """Label selector for one service's pods."""
    return f"{NAME_LABEL}={service},{PART_OF_SELECTOR}"
