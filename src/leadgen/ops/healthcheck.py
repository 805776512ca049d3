"""``leadgen k8s health-check ENV [--deep]``: read the namespace, run the health rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import KubectlError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.rules import health
from leadgen.ops.rules.health import Check, Status, Thresholds

# Full resource names, so a same-named kind from another API group never answers.
GATEWAYS = "gateways.gateway.networking.k8s.io"
HTTPROUTES = "httproutes.gateway.networking.k8s.io"
CERTIFICATES = "certificates.cert-manager.io"
CNPG_CLUSTERS = "clusters.postgresql.cnpg.io"


@dataclass(frozen=True)
class HealthReport:
    environment: str
    namespace: str
    deep: bool
    checks: tuple[Check, ...]

    @property
    def exit_code(self) -> int:
        return health.exit_code(self.checks)

    @property
    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in Status}


def utcnow() -> datetime:
    return datetime.now(UTC)


def readyz_path(namespace: str, service: str, port: int) -> str:
    """The API server proxy path to a Service's /readyz."""
    return f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{contract.READINESS_PATH}"


def run_health(
    kubectl: Kubectl,
    env: Environment,
    *,
    deep: bool = False,
    thresholds: Thresholds | None = None,
    now: Callable[[], datetime] | None = None,
) -> HealthReport:
    """Every check of the issue's list; ``deep`` adds readiness, pods and certificates."""
    limits = thresholds or Thresholds()
    clock = now or utcnow
    namespace = kubectl.namespace or env.namespace
    checks: list[Check] = []
    selector = contract.PART_OF_SELECTOR
    checks += _guard(
        "Deployment",
        lambda: health.check_deployments(kubectl.get("deployments", selector=selector), contract.DEPLOYMENTS),
    )
    checks += _guard(
        "StatefulSet",
        lambda: health.check_statefulsets(kubectl.get("statefulsets", selector=selector), contract.statefulsets(env)),
    )
    if env.uses_cnpg:
        checks += _guard(
            "Cluster",
            lambda: [
                health.check_cnpg_cluster(kubectl.get_optional(CNPG_CLUSTERS, contract.POSTGRES), contract.POSTGRES)
            ],
        )
    checks += _guard("Job", lambda: health.check_jobs(kubectl.get("jobs"), contract.MIGRATION_JOB))
    checks += _guard(
        "Service",
        lambda: health.check_services(kubectl.get("services"), kubectl.get("endpointslices")),
    )
    checks += _guard("PVC", lambda: health.check_pvcs(kubectl.get("persistentvolumeclaims")))
    checks += _guard("Gateway", lambda: health.check_gateways(kubectl.get(GATEWAYS)))
    checks += _guard("HTTPRoute", lambda: health.check_httproutes(kubectl.get(HTTPROUTES)))
    checks += _guard("Node", lambda: health.check_nodes(kubectl.get("nodes", namespaced=False)))
    if deep:
        checks += readiness_checks(kubectl, namespace, contract.SERVICE_PORTS)
        checks += _guard("Pod", lambda: health.check_pods(kubectl.get("pods"), clock(), limits))
        checks += _guard(
            "Certificate",
            lambda: health.check_certificates(kubectl.get(CERTIFICATES), clock(), limits),
        )
    return HealthReport(env.value, namespace, deep, tuple(checks))


def readiness_checks(kubectl: Kubectl, namespace: str, services: dict[str, int]) -> list[Check]:
    """GET each Service's /readyz through the API server proxy (no port-forward, no ingress)."""
    checks = []
    for service, port in services.items():
        path = readyz_path(namespace, service, port)
        done = kubectl.run("get", "--raw", path, namespaced=False, check=False)
        checks.append(health.check_readyz(service, done.ok, done.stdout if done.ok else done.stderr))
    return checks


def _guard(category: str, produce: Callable[[], Iterable[Check]]) -> list[Check]:
    """Run one group of checks; a missing CRD or permission becomes a warning, not a crash."""
    try:
        return list(produce())
    except KubectlError as exc:
        if exc.unknown_resource_type:
            return [health.unavailable(category, "resource type not installed in this cluster")]
        if exc.forbidden:
            return [health.unavailable(category, "no permission to read it")]
        raise


def deployment_checks(kubectl: Kubectl, names: Iterable[str]) -> list[Check]:
    """The Deployment check for a few services (rollback verifies only what it touched)."""
    items: list[dict[str, Any]] = [kubectl.get("deployment", name) for name in names]
    return list(health.check_deployments({"items": items}, ()))
