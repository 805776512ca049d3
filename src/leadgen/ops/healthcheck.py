"""``leadgen k8s health-check ENV [--deep]``: read the namespace, run the health rules.

What it expects by name (Deployments, StatefulSets, Services, the Gateway and its HTTPRoutes,
the CloudNativePG Cluster) is what the environment's overlay renders: one source of truth, which
also follows an overlay's components (the Ingress edge renders no Gateway). Objects it finds
beyond those are checked too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import KubectlError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.rules import health, workloads
from leadgen.ops.rules.health import Check, Status, Thresholds
from leadgen.ops.rules.manifests import Resource

# Full resource names, so a same-named kind from another API group never answers.
GATEWAYS = "gateways.gateway.networking.k8s.io"
HTTPROUTES = "httproutes.gateway.networking.k8s.io"
CERTIFICATES = "certificates.cert-manager.io"
CNPG_CLUSTERS = "clusters.postgresql.cnpg.io"


@dataclass(frozen=True)
class Expected:
    """The objects the health check expects by name: those the overlay renders."""

    deployments: tuple[str, ...]
    statefulsets: tuple[str, ...]
    services: tuple[str, ...]
    gateways: tuple[str, ...]
    httproutes: tuple[str, ...]
    cnpg_clusters: tuple[str, ...]

    @classmethod
    def rendered(cls, resources: Iterable[Resource]) -> Expected:
        rendered = list(resources)

        def named(kind: str, group: str = "") -> tuple[str, ...]:
            return tuple(r.name for r in rendered if r.kind == kind and r.api_version.startswith(group))

        return cls(
            deployments=named("Deployment"),
            statefulsets=named("StatefulSet"),
            services=named("Service"),
            gateways=named("Gateway", "gateway.networking.k8s.io/"),
            httproutes=named("HTTPRoute", "gateway.networking.k8s.io/"),
            cnpg_clusters=named("Cluster", "postgresql.cnpg.io/"),
        )


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


def readyz_script(port: int = contract.METRICS_PORT) -> str:
    """Python for inside a pod, run by the image's own interpreter: ask the process's ops port
    on loopback (no NetworkPolicy filters it) and print the answer as one JSON line; a 503 is an
    answer too."""
    url = f"http://127.0.0.1:{port}{contract.READINESS_PATH}"
    return (
        "import json, urllib.error, urllib.request\n"
        "try:\n"
        f"    with urllib.request.urlopen({url!r}, timeout=5) as r:\n"
        '        print(json.dumps({"status": r.status, "body": r.read().decode()}))\n'
        "except urllib.error.HTTPError as e:\n"
        '    print(json.dumps({"status": e.code, "body": e.read().decode()}))\n'
        "except OSError as e:\n"
        '    print(json.dumps({"status": None, "body": str(e)}))\n'
    )


@dataclass
class Lists:
    """``kubectl get`` of whole lists, each read once however many checks use it."""

    kubectl: Kubectl
    read: dict[tuple[str, str | None], Any] = field(default_factory=dict)

    def get(self, resource: str, *, selector: str | None = None) -> Any:
        key = (resource, selector)
        if key not in self.read:
            try:
                self.read[key] = self.kubectl.get(resource, selector=selector)
            except KubectlError as exc:
                self.read[key] = exc
        found = self.read[key]
        if isinstance(found, KubectlError):
            raise found
        return found


def run_health(
    kubectl: Kubectl,
    env: Environment,
    expected: Expected,
    *,
    deep: bool = False,
    thresholds: Thresholds | None = None,
    now: Callable[[], datetime] | None = None,
) -> HealthReport:
    """Every check of the issue's list; ``deep`` adds readiness, pods and certificates."""
    limits = thresholds or Thresholds()
    clock = now or utcnow
    namespace = kubectl.namespace or env.namespace
    lists = Lists(kubectl)
    checks: list[Check] = []
    selector = contract.PART_OF_SELECTOR
    checks += _guard(
        "Deployment",
        lambda: health.check_deployments(lists.get("deployments", selector=selector), expected.deployments),
    )
    checks += _guard(
        "StatefulSet",
        lambda: health.check_statefulsets(kubectl.get("statefulsets", selector=selector), expected.statefulsets),
    )
    checks += _guard(
        "Cluster",
        lambda: [
            health.check_cnpg_cluster(kubectl.get_optional(CNPG_CLUSTERS, name), name)
            for name in expected.cnpg_clusters
        ],
    )
    checks += _guard("Job", lambda: health.check_jobs(kubectl.get("jobs"), contract.MIGRATION_JOB))
    checks += _guard(
        "Service",
        lambda: health.check_services(kubectl.get("services"), lists.get("endpointslices"), expected.services),
    )
    checks += _guard("PVC", lambda: pvc_checks(kubectl, lists))
    checks += _guard("Gateway", lambda: health.check_gateways(kubectl.get(GATEWAYS), expected.gateways))
    checks += _guard("HTTPRoute", lambda: health.check_httproutes(kubectl.get(HTTPROUTES), expected.httproutes))
    checks += _guard("Node", lambda: health.check_nodes(kubectl.get("nodes", namespaced=False)))
    if deep:
        checks += readiness_checks(kubectl, expected.deployments, in_pod=True, lists=lists)
        checks += _guard("Pod", lambda: health.check_pods(lists.get("pods"), clock(), limits))
        checks += _guard(
            "Certificate",
            lambda: health.check_certificates(kubectl.get(CERTIFICATES), clock(), limits),
        )
    return HealthReport(env.value, namespace, deep, tuple(checks))


def pvc_checks(kubectl: Kubectl, lists: Lists) -> Iterator[Check]:
    """The claims; for Pending ones also the events and pods that tell whether they merely wait
    for their first consumer. Unreadable, they leave every Pending claim failed."""
    claims = kubectl.get("persistentvolumeclaims")
    waiting: set[str] = set()
    if health.pending_claims(claims):
        try:
            events = kubectl.get("events", field_selector="involvedObject.kind=PersistentVolumeClaim")
            waiting = health.claims_waiting_for_first_consumer(events, lists.get("pods"))
        except KubectlError as exc:
            if not (exc.forbidden or exc.unknown_resource_type):
                raise
    return health.check_pvcs(claims, waiting)


def readiness_checks(
    kubectl: Kubectl,
    services: Iterable[str],
    *,
    in_pod: bool = False,
    lists: Lists | None = None,
) -> list[Check]:
    """Readiness of app Deployments from their status, their pods' Ready conditions and their
    Services' EndpointSlices; ``in_pod`` adds each one's own /readyz, asked inside one Ready pod.

    Never through the API server's service proxy: that connects from the control plane, which
    the NetworkPolicies (default deny) rightly keep away from the apps.
    """
    lists = lists or Lists(kubectl)
    names = list(services)
    routed = set(contract.SERVICE_PORTS)
    checks = _guard(
        "Readiness",
        lambda: health.check_readiness(
            lists.get("deployments", selector=contract.PART_OF_SELECTOR),
            lists.get("pods"),
            lists.get("endpointslices"),
            names,
            routed,
        ),
    )
    if in_pod:
        checks += _guard("Readyz", lambda: pod_readyz_checks(kubectl, lists.get("pods"), names))
    return checks


def pod_readyz_checks(kubectl: Kubectl, pods: dict[str, Any], services: Iterable[str]) -> list[Check]:
    """Each service's /readyz details from one of its Ready pods (``kubectl exec``, pods/exec)."""
    checks = []
    for service in services:
        pod = next(
            (
                p
                for p in sorted(pods.get("items") or [], key=lambda p: p["metadata"]["name"])
                if (p["metadata"].get("labels") or {}).get(contract.NAME_LABEL) == service and workloads.pod_ready(p)
            ),
            None,
        )
        if pod is None:
            continue  # the Readiness check already fails it
        name = pod["metadata"]["name"]
        args = ["exec", name, "--container", _ops_container(pod), "--", "python", "-c", readyz_script()]
        done = kubectl.run(*args, check=False)
        if not done.ok:
            error = KubectlError(args, done.returncode, done.stderr)
            reason = "no permission to exec into pods (pods/exec)" if error.forbidden else error.message
            checks.append(health.check_pod_readyz(service, name, None, reason))
            continue
        checks.append(health.check_pod_readyz(service, name, _last_json(done.stdout), None))
    return checks


def _ops_container(pod: dict[str, Any]) -> str:
    """The container that serves the ops port (the app's; a debug container does not)."""
    containers: list[dict[str, Any]] = (pod.get("spec") or {}).get("containers") or []
    for container in containers:
        if any(p.get("containerPort") == contract.METRICS_PORT for p in container.get("ports") or []):
            return str(container["name"])
    return str(containers[0]["name"]) if containers else ""


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return None


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
