"""Structural checks of a rendered overlay that need no cluster.

``leadgen k8s deploy`` runs them before it touches the cluster, ``leadgen k8s validate`` runs
them alone, and the manifest test suite imports ``validate_rendered`` so both agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.rules import waves

Severity = Literal["error", "warning"]

# apiVersion -> kinds we expect in an overlay. Anything else is a typo, a retired API version
# (autoscaling/v2beta2, policy/v1beta1) or a controller we do not run.
KNOWN_KINDS: dict[str, frozenset[str]] = {
    "v1": frozenset(
        {
            "Namespace",
            "ServiceAccount",
            "ConfigMap",
            "Secret",
            "Service",
            "PersistentVolumeClaim",
            "ResourceQuota",
            "LimitRange",
        }
    ),
    "apps/v1": frozenset({"Deployment", "StatefulSet", "DaemonSet"}),
    "batch/v1": frozenset({"Job", "CronJob"}),
    "autoscaling/v2": frozenset({"HorizontalPodAutoscaler"}),
    "policy/v1": frozenset({"PodDisruptionBudget"}),
    "networking.k8s.io/v1": frozenset({"NetworkPolicy", "Ingress", "IngressClass"}),
    "rbac.authorization.k8s.io/v1": frozenset({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}),
    "storage.k8s.io/v1": frozenset({"StorageClass"}),
    "scheduling.k8s.io/v1": frozenset({"PriorityClass"}),
    "gateway.networking.k8s.io/v1": frozenset({"Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute"}),
    "gateway.networking.k8s.io/v1beta1": frozenset({"ReferenceGrant"}),
    "cert-manager.io/v1": frozenset({"Certificate", "Issuer", "ClusterIssuer"}),
    "external-secrets.io/v1": frozenset({"ExternalSecret", "SecretStore", "ClusterSecretStore"}),
    "external-secrets.io/v1beta1": frozenset({"ExternalSecret", "SecretStore", "ClusterSecretStore"}),
    "postgresql.cnpg.io/v1": frozenset({"Cluster", "ScheduledBackup", "Backup", "Pooler"}),
    # CloudNativePG's Barman Cloud plugin (prod backups to object storage).
    "barmancloud.cnpg.io/v1": frozenset({"ObjectStore"}),
    # Envoy Gateway's policy attachments for the Gateway API edge.
    "gateway.envoyproxy.io/v1alpha1": frozenset(
        {
            "BackendTrafficPolicy",
            "ClientTrafficPolicy",
            "SecurityPolicy",
            "EnvoyProxy",
            "EnvoyExtensionPolicy",
        }
    ),
    "monitoring.coreos.com/v1": frozenset({"ServiceMonitor", "PodMonitor", "PrometheusRule"}),
    # What the on-call Role may change, beyond RBAC (k8s/infrastructure/rbac/operator-limits.yaml).
    "admissionregistration.k8s.io/v1": frozenset({"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}),
}

CLUSTER_SCOPED: frozenset[str] = frozenset(
    {
        "Namespace",
        "StorageClass",
        "PriorityClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterIssuer",
        "ClusterSecretStore",
        "GatewayClass",
        "IngressClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
)

POD_TEMPLATE_KINDS: frozenset[str] = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

# What the committed manifests hold in place of an installation's own values, and where those
# are set (docs/KUBERNETES_SETUP.md, sections 3 and 4). Dev runs with them; staging and prod would
# run against nobody's account, domain or mail server. The settings ConfigMap itself is not read:
# it also holds the other cloud's keys, and every value it gives is checked where it lands.
PLACEHOLDERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        # not inside a longer number or a hex digest
        re.compile(r"(?<![0-9a-f])0{12}(?![0-9a-f])"),
        "the placeholder account 000000000000 (awsAccountId, on GKE gcpProjectNumber, in cluster-settings.yaml)",
    ),
    (
        re.compile(r"\b[a-z][a-z0-9-]*-0{6}(?![0-9])"),
        "the placeholder GCP project leadgen-<env>-000000 (gcpProjectId in cluster-settings.yaml)",
    ),
    (
        re.compile(r"\bfs-0+\b"),
        "the placeholder EFS file system fs-000… (awsEfsFileSystemId in cluster-settings.yaml)",
    ),
    (
        re.compile(r"(?:^|[.@/])example\.(?:com|org|net)\b"),
        "a placeholder example.com/.org/.net name (domain in cluster-settings.yaml, LEADGEN_SMTP_* in "
        "k8s/base/backend/*.env, the Let's Encrypt e-mail in k8s/infrastructure/gateway/issuers)",
    ),
    (
        re.compile(r"\b(?:192\.0\.2|198\.51\.100|203\.0\.113)\.[0-9]+"),
        "a documentation address range, a placeholder for the IP allow-list's clientCIDRs",
    ),
)


@dataclass(frozen=True)
class Resource:
    """One rendered document."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    resource: str
    message: str


@dataclass(frozen=True)
class ValidationReport:
    resources: tuple[Resource, ...]
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors


def parse(text: str) -> tuple[list[Resource], list[Finding]]:
    """Every YAML document of a render as a Resource; unparseable ones become findings."""
    resources: list[Resource] = []
    findings: list[Finding] = []
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        return [], [Finding("error", "(render)", f"not valid YAML: {exc}")]
    for index, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        where = f"(document {index})"
        if not isinstance(doc, dict):
            findings.append(Finding("error", where, "is not a mapping"))
            continue
        metadata = doc.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)):
            findings.append(Finding("error", where, "needs apiVersion, kind and metadata.name"))
            continue
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        resources.append(Resource(api_version, kind, name, namespace, doc))
    return resources, findings


def validate_rendered(text: str, env: Environment, namespace: str | None = None) -> ValidationReport:
    """Parse and check a render of ``k8s/overlays/<env>``.

    Args:
        text: what ``kubectl kustomize k8s/overlays/<env>`` printed.
        env: the overlay's environment (prod also needs image digests).
        namespace: where namespaced objects must go; default ``leadgen-<env>``.
    """
    resources, findings = parse(text)
    findings += validate(resources, env, namespace or env.namespace)
    return ValidationReport(tuple(resources), tuple(findings))


def validate(resources: list[Resource], env: Environment, namespace: str) -> list[Finding]:
    """Every structural check; see the module docstring."""
    findings: list[Finding] = []
    findings += _check_kinds(resources)
    findings += _check_duplicates(resources)
    findings += _check_namespaces(resources, namespace)
    findings += _check_required(resources, env)
    findings += _check_hpa_replicas(resources)
    findings += _check_waves(resources)
    findings += _check_placeholders(resources, env)
    for res in resources:
        findings += _check_pod_template(res, env)
    return findings


def _check_kinds(resources: list[Resource]) -> Iterator[Finding]:
    for res in resources:
        if res.kind not in KNOWN_KINDS.get(res.api_version, frozenset()):
            served = [v for v, kinds in KNOWN_KINDS.items() if res.kind in kinds]
            hint = f"; expected apiVersion {' or '.join(served)}" if served else ""
            yield Finding("error", res.ref, f"unknown kind {res.api_version}/{res.kind}{hint}")


def _check_duplicates(resources: list[Resource]) -> Iterator[Finding]:
    seen: set[tuple[str, str, str | None, str]] = set()
    for res in resources:
        key = (res.api_version.split("/")[0], res.kind, res.namespace, res.name)
        if key in seen:
            yield Finding("error", res.ref, "appears twice in the render")
        seen.add(key)


def _check_namespaces(resources: list[Resource], namespace: str) -> Iterator[Finding]:
    for res in resources:
        if res.kind in CLUSTER_SCOPED:
            continue
        if res.namespace is None:
            yield Finding("error", res.ref, f"has no namespace; the overlay must set {namespace}")
        elif res.namespace != namespace:
            yield Finding("error", res.ref, f"is in namespace {res.namespace}, expected {namespace}")
    if not any(r.kind == "Namespace" and r.name == namespace for r in resources):
        yield Finding("warning", f"Namespace/{namespace}", "is not in the render; it must exist before deploy")


def _check_required(resources: list[Resource], env: Environment) -> Iterator[Finding]:
    names = {(r.kind, r.name) for r in resources}
    required = [("Deployment", d) for d in contract.DEPLOYMENTS]
    required += [("StatefulSet", s) for s in contract.statefulsets(env)]
    required += [("Job", contract.MIGRATION_JOB)]
    if env.uses_cnpg:
        required.append(("Cluster", contract.POSTGRES))
    for kind, name in required:
        if (kind, name) not in names:
            yield Finding("error", f"{kind}/{name}", "is missing from the render")
    for res in resources:
        if res.kind != "Job" or res.name != contract.MIGRATION_JOB:
            continue
        if not _runs_migrations(res):
            yield Finding("warning", res.ref, "does not run `db upgrade`; is this the migration Job?")
        if active_deadline(res) is None:
            yield Finding(
                "error",
                res.ref,
                "has no spec.activeDeadlineSeconds: a stuck migration would stay active for good, and "
                "deploy never replaces an active migration Job (by default it waits for the Job that long)",
            )


def active_deadline(job: Resource) -> int | None:
    """A Job's ``spec.activeDeadlineSeconds``, when it sets one."""
    value = (job.body.get("spec") or {}).get("activeDeadlineSeconds")
    return value if isinstance(value, int) and value > 0 else None


def _runs_migrations(job: Resource) -> bool:
    wanted = list(contract.MIGRATION_ARGS)
    for container in _containers(job.body, init=False):
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        if any(argv[i : i + len(wanted)] == wanted for i in range(len(argv))):
            return True
    return False


def _check_hpa_replicas(resources: list[Resource]) -> Iterator[Finding]:
    """A Deployment an HPA scales should not set replicas: every apply would reset the count."""
    scaled = {
        r.body.get("spec", {}).get("scaleTargetRef", {}).get("name")
        for r in resources
        if r.kind == "HorizontalPodAutoscaler"
    }
    for res in resources:
        if res.kind == "Deployment" and res.name in scaled and "replicas" in res.body.get("spec", {}):
            yield Finding(
                "warning",
                res.ref,
                "sets spec.replicas although an HPA scales it; each deploy resets the count",
            )


def _check_waves(resources: list[Resource]) -> Iterator[Finding]:
    """Deploy applies each workload in its wave (``rules.waves``): one in none has no safe place."""
    for res in waves.unassigned(resources):
        yield Finding(
            "error",
            res.ref,
            f"is in no rollout wave, so deploy cannot tell whether to roll it before or after the "
            f"frontend; add {contract.NAME_LABEL} {waves.app_of(res)} to {waves.WAVES_TABLE}",
        )


def _check_placeholders(resources: list[Resource], env: Environment) -> Iterator[Finding]:
    """Staging and prod: no value left that the repository commits in place of the real one."""
    if env is Environment.DEV:
        return
    for res in resources:
        if res.kind == "ConfigMap" and res.name == contract.CLUSTER_SETTINGS:
            continue
        found: dict[str, str] = {}
        for text in strings_in(res.body):
            for pattern, meaning in PLACEHOLDERS:
                if meaning not in found and pattern.search(text):
                    found[meaning] = text
        for meaning, text in found.items():
            yield Finding("error", res.ref, f"holds {text!r}: {meaning}")


def strings_in(value: object) -> Iterator[str]:
    """Every string value inside a document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def pod_spec(body: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload (CronJob: inside its jobTemplate)."""
    spec = body.get("spec") or {}
    if body.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec")
    return pod if isinstance(pod, dict) else None


def _containers(body: dict[str, Any], *, init: bool = True) -> Iterable[dict[str, Any]]:
    pod = pod_spec(body) or {}
    keys = ("initContainers", "containers") if init else ("containers",)
    for key in keys:
        yield from (c for c in pod.get(key) or [] if isinstance(c, dict))


def _check_pod_template(res: Resource, env: Environment) -> Iterator[Finding]:
    if res.kind not in POD_TEMPLATE_KINDS | {"CronJob"}:
        return
    for container in _containers(res.body):
        where = f"{res.ref} container {container.get('name', '?')}"
        yield from _check_image(where, container.get("image"), env)
        yield from _check_resources(where, container.get("resources") or {})
    if res.kind == "Deployment":
        for container in _containers(res.body, init=False):
            where = f"{res.ref} container {container.get('name', '?')}"
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    yield Finding("error", where, f"has no {probe}")
            if "startupProbe" not in container:
                yield Finding("warning", where, "has no startupProbe")


def _check_image(where: str, image: object, env: Environment) -> Iterator[Finding]:
    if not isinstance(image, str) or not image:
        yield Finding("error", where, "has no image")
        return
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag == "latest" or (tag is None and "@" not in image):
        yield Finding("error", where, f"image {image} is not pinned (no tag or :latest)")
    if env is Environment.PROD and not DIGEST.search(image):
        yield Finding("error", where, f"image {image} is not pinned by digest (@sha256:...) in prod")


def _check_resources(where: str, resources: dict[str, Any]) -> Iterator[Finding]:
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    missing = [f"requests.{k}" for k in ("cpu", "memory") if k not in requests]
    missing += ["limits.memory"] if "memory" not in limits else []
    if missing:
        yield Finding("error", where, f"has no resources {', '.join(missing)}")
