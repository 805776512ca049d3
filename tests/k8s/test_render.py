"""Every kustomization renders; overlays are self-consistent per environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from leadgen.ops.contract import CLUSTER_SETTINGS_ENVIRONMENT

from .render import (
    DEPLOYABLE,
    K8S,
    NAMESPACES,
    OVERLAYS,
    by_original_name,
    find,
    is_component,
    iter_strings,
    kustomization_dirs,
    mib,
    of_kind,
    overlay,
    render,
)

KUSTOMIZATIONS = [d for d in kustomization_dirs() if not is_component(d)]
COMPONENTS = [d for d in kustomization_dirs() if is_component(d)]

CLUSTER_SCOPED = {
    "Namespace",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "GatewayClass",
    "ClusterSecretStore",
    "ClusterIssuer",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
# Left-over placeholders of k8s/components/environment and k8s/components/gke.
PLACEHOLDER = re.compile(
    r"\bENV\b|leadgen-ENV|\bDOMAIN\b|AWS_REGION|EFS_FILE_SYSTEM_ID|KUBE_API_CIDR|\bPROJECT\b"
    r"|\bLOCATION\b|\bCLUSTER\b"
)


def _rel(directory: Path) -> str:
    return str(directory.relative_to(K8S))


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_every_kustomization_renders(directory: Path) -> None:
    resources = render(_rel(directory))
    assert resources, f"k8s/{_rel(directory)} renders nothing"


def test_layout_the_seed_names() -> None:
    for service in (
        "api",
        "data-service",
        "orchestrator",
        "frontend",
        "backend",
        "postgres",
        "redis",
        "neo4j",
        "qdrant",
    ):
        assert (K8S / "base" / service / "kustomization.yaml").is_file(), service
    for name in OVERLAYS:
        assert (K8S / "overlays" / name / "kustomization.yaml").is_file()
    for part in ("namespace", "rbac", "network-policies", "storage-classes/aws", "storage-classes/gcp"):
        assert (K8S / "infrastructure" / part / "kustomization.yaml").is_file(), part
    assert (K8S / "dashboard" / "kustomization.yaml").is_file()


def _referenced_components() -> set[Path]:
    used: set[Path] = set()
    for directory in kustomization_dirs():
        data = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
        for entry in data.get("components", []):
            used.add((directory / entry).resolve())
    return used


@pytest.mark.parametrize("component", COMPONENTS, ids=_rel)
def test_every_component_is_built_somewhere(component: Path) -> None:
    """Components cannot be built alone; each must be part of a rendered kustomization."""
    assert component.resolve() in _referenced_components()


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_no_placeholder_left(target: str) -> None:
    leftovers = sorted({s for r in render(target) for s in iter_strings(r) if PLACEHOLDER.search(s)})
    assert not leftovers


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_names_are_unique(target: str) -> None:
    seen: set[tuple[str, str, str]] = set()
    for r in render(target):
        ident = (r["kind"], r["metadata"].get("namespace", ""), r["metadata"]["name"])
        assert ident not in seen, ident
        seen.add(ident)


@pytest.mark.parametrize("name", OVERLAYS)
def test_overlay_lives_in_its_namespace(name: str) -> None:
    resources = overlay(name)
    namespaces = of_kind(resources, "Namespace")
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACES[name]]
    for r in resources:
        if r["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in r["metadata"], f"{r['kind']}/{r['metadata']['name']}"
        else:
            assert r["metadata"].get("namespace") == NAMESPACES[name], r["metadata"]["name"]
    settings = find(resources, "ConfigMap", "leadgen-cluster-settings")["data"]
    assert settings["namespace"] == NAMESPACES[name]
    # Whose rules `leadgen k8s` applies in the namespace (leadgen.ops.namespace).
    assert settings[CLUSTER_SETTINGS_ENVIRONMENT] == name
    assert re.fullmatch(r"\d{12}", settings["awsAccountId"])


@pytest.mark.parametrize("name", OVERLAYS)
def test_pod_security_labels(name: str) -> None:
    labels = of_kind(overlay(name), "Namespace")[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    expected = "restricted" if name == "prod" else "baseline"
    assert labels["pod-security.kubernetes.io/enforce"] == expected


@pytest.mark.parametrize(
    ("name", "environment"),
    [("dev", "development"), ("staging", "staging"), ("prod", "production")],
)
def test_environment_setting(name: str, environment: str) -> None:
    common = by_original_name(overlay(name), "ConfigMap", "leadgen-common")["data"]
    assert common["LEADGEN_ENVIRONMENT"] == environment


@pytest.mark.parametrize("name", OVERLAYS)
async def test_a_client_cannot_choose_its_address_behind_the_gateway(name: str) -> None:
    """The per-address limit of the quote form holds only if a forged X-Forwarded-For entry is ignored."""
    believed = by_original_name(overlay(name), "ConfigMap", "leadgen-common")["data"][
        "LEADGEN_HTTP_FORWARDED_ALLOW_IPS"
    ]
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    # The client wrote the first entry; the gateway (a pod at 10.1.2.3) appended the address it saw.
    headers = [(b"x-forwarded-for", b"1.2.3.4, 203.0.113.9")]
    scope = {"type": "http", "client": ("10.1.2.3", 40000), "headers": headers, "scheme": "http"}
    await ProxyHeadersMiddleware(app, trusted_hosts=believed)(scope, None, None)  # type: ignore[arg-type]
    assert seen == ["203.0.113.9"]


@pytest.mark.parametrize(("name", "minimum", "maximum"), [("dev", 1, 2), ("staging", 2, 3), ("prod", 3, None)])
def test_replicas_per_environment(name: str, minimum: int, maximum: int | None) -> None:
    resources = overlay(name)
    for hpa in of_kind(resources, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] == minimum, hpa["metadata"]["name"]
        if maximum is not None:
            assert hpa["spec"]["maxReplicas"] == maximum, hpa["metadata"]["name"]
        else:
            assert hpa["spec"]["maxReplicas"] > minimum
    scheduler = find(resources, "Deployment", "scheduler")
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"


# Resident memory of an idle app container: about 122 MiB, measured for api and frontend (the
# same image and start-up). Utilisation is usage over the request.
IDLE_APP_MEMORY_MIB = 122


@pytest.mark.parametrize("name", OVERLAYS)
def test_idle_pods_are_below_the_hpa_memory_target(name: str) -> None:
    """An HPA whose memory target an idle pod already exceeds sits at its maximum for good."""
    resources = overlay(name)
    problems = []
    for hpa in of_kind(resources, "HorizontalPodAutoscaler"):
        deployment = find(resources, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        app = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
        requested = mib(app["resources"]["requests"]["memory"])
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Resource" and metric["resource"]["name"] == "memory":
                target = metric["resource"]["target"]["averageUtilization"]
                if requested * target / 100 <= IDLE_APP_MEMORY_MIB:
                    problems.append(
                        f"{hpa['metadata']['name']}: idle {IDLE_APP_MEMORY_MIB} MiB is "
                        f"{IDLE_APP_MEMORY_MIB / requested:.0%} of the {requested:.0f} MiB request, target {target}%"
                    )
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_seed_scaling_in_base() -> None:
    expected = {
        "api": (2, 10),
        "data-service": (2, 8),
        "orchestrator": (2, 5),
        "backend": (2, 8),
        "frontend": (2, 3),
    }
    resources = render("base")
    for name, (low, high) in expected.items():
        spec = find(resources, "HorizontalPodAutoscaler", name)["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (low, high), name
    api = find(resources, "HorizontalPodAutoscaler", "api")["spec"]["metrics"]
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in api}
    assert targets == {"cpu": 70, "memory": 80}
    assert find(resources, "PodDisruptionBudget", "api")["spec"]["minAvailable"] == 1


def test_prod_datastores_are_highly_available() -> None:
    resources = overlay("prod")
    cluster = find(resources, "Cluster", "postgres")["spec"]
    assert cluster["instances"] == 3
    assert cluster["postgresql"]["synchronous"]["number"] >= 1
    assert find(resources, "ScheduledBackup", "postgres-daily")["spec"]["cluster"]["name"] == "postgres"
    assert find(resources, "StatefulSet", "redis")["spec"]["replicas"] == 3
    assert find(resources, "StatefulSet", "qdrant")["spec"]["replicas"] == 3
    assert not [r for r in resources if r["kind"] == "StatefulSet" and r["metadata"]["name"] == "postgres"]
