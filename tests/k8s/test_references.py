"""Cross-references inside each rendered environment: everything a resource names exists."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from .netpol import _match_labels
from .render import (
    DASHBOARDS,
    DEPLOYABLE,
    K8S,
    Resource,
    containers,
    find,
    of_kind,
    pod_spec,
    pod_template,
    render,
    secret_contents,
    traefik_middlewares,
    workloads,
)

APP_IMAGE = "ghcr.io/leadgen/leadgen"
BUILTIN_CLUSTER_ROLES = {"view", "edit", "admin", "cluster-admin"}


def _pods(resources: list[Resource]) -> list[tuple[str, dict[str, str], list[dict[str, Any]]]]:
    """(workload, pod labels, container ports) for every pod the render creates."""
    pods = []
    for w in workloads(resources):
        ports = [p for c in containers(w, init=False) for p in c.get("ports", [])]
        pods.append((w["metadata"]["name"], pod_template(w)["metadata"].get("labels", {}), ports))
    for cluster in of_kind(resources, "Cluster"):
        labels = {
            **cluster["spec"].get("inheritedMetadata", {}).get("labels", {}),
            "cnpg.io/cluster": cluster["metadata"]["name"],
            "cnpg.io/instanceRole": "primary",
        }
        ports = [
            {"name": "postgresql", "containerPort": 5432},
            {"name": "status", "containerPort": 8000},
            {"name": "metrics", "containerPort": 9187},
        ]
        pods.append((cluster["metadata"]["name"], labels, ports))
    return pods


def _names(resources: list[Resource], kind: str) -> set[str]:
    return {r["metadata"]["name"] for r in resources if r["kind"] == kind}


def _secret_names(resources: list[Resource]) -> set[str]:
    names = _names(resources, "Secret")
    for es in of_kind(resources, "ExternalSecret"):
        names.add(es["spec"]["target"].get("name", es["metadata"]["name"]))
    return names


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_service_selectors_match_pods_and_target_ports_exist(target: str) -> None:
    resources = render(target)
    pods = _pods(resources)
    for service in of_kind(resources, "Service"):
        selector = service["spec"].get("selector")
        name = service["metadata"]["name"]
        assert selector, f"Service {name} has no selector"
        matched = [p for p in pods if all(p[1].get(k) == v for k, v in selector.items())]
        assert matched, f"Service {name} selects no pod"
        for port in service["spec"]["ports"]:
            wanted = port.get("targetPort", port["port"])
            for workload, _, ports in matched:
                found = any(
                    p.get("name") == wanted if isinstance(wanted, str) else p["containerPort"] == wanted for p in ports
                )
                assert found, f"Service {name} port {port['name']}: {workload} has no {wanted}"


def _config_refs(spec: dict[str, Any]) -> tuple[set[str], set[tuple[str, str | None]]]:
    """ConfigMaps and (Secret, key) pairs a pod spec cannot start without (an optional Secret,
    of a feature that is off without it, may be absent)."""
    configmaps: set[str] = set()
    secrets: set[tuple[str, str | None]] = set()
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for source in c.get("envFrom", []):
            if "configMapRef" in source:
                configmaps.add(source["configMapRef"]["name"])
            if "secretRef" in source:
                secrets.add((source["secretRef"]["name"], None))
        for env in c.get("env", []):
            ref = env.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                configmaps.add(ref["configMapKeyRef"]["name"])
            if "secretKeyRef" in ref:
                secrets.add((ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]))
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            configmaps.add(volume["configMap"]["name"])
        if "secret" in volume and not volume["secret"].get("optional"):
            items = volume["secret"].get("items") or [{"key": None}]
            secrets |= {(volume["secret"]["secretName"], i["key"]) for i in items}
        for source in volume.get("projected", {}).get("sources", []):
            if "configMap" in source:
                configmaps.add(source["configMap"]["name"])
            if "secret" in source and not source["secret"].get("optional"):
                items = source["secret"].get("items") or [{"key": None}]
                secrets |= {(source["secret"]["name"], i["key"]) for i in items}
    return configmaps, secrets


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_referenced_configmaps_secrets_serviceaccounts_and_volumes_exist(target: str) -> None:
    resources = render(target)
    configmaps = _names(resources, "ConfigMap")
    secret_names = _secret_names(resources)
    accounts = _names(resources, "ServiceAccount")
    claims = _names(resources, "PersistentVolumeClaim")
    for w in workloads(resources):
        name = w["metadata"]["name"]
        spec = pod_spec(w)
        used_cms, used_secrets = _config_refs(spec)
        assert used_cms <= configmaps, f"{name}: missing ConfigMaps {used_cms - configmaps}"
        for secret, item in used_secrets:
            assert secret in secret_names, f"{name}: missing Secret {secret}"
            if item is not None:
                assert item in secret_contents(resources, secret), f"{name}: {secret} lacks {item}"
        assert spec.get("serviceAccountName") in accounts, f"{name}: ServiceAccount"
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name
    for cluster in of_kind(resources, "Cluster"):
        assert cluster["spec"]["serviceAccountName"] in accounts
        assert cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"] in secret_names
    for store in of_kind(resources, "ClusterSecretStore"):
        provider = next(iter(store["spec"]["provider"].values()))
        account = (provider["auth"].get("jwt") or provider["auth"].get("workloadIdentity"))["serviceAccountRef"]
        assert account["name"] in accounts
        assert account["namespace"] in _names(resources, "Namespace")
    for es in of_kind(resources, "ExternalSecret"):
        assert es["spec"]["secretStoreRef"]["name"] in _names(resources, "ClusterSecretStore")


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_storage_classes_exist(target: str) -> None:
    resources = render(target)
    classes = _names(resources, "StorageClass")
    if not classes:  # the dashboard brings no storage
        assert not of_kind(resources, "PersistentVolumeClaim", "StatefulSet", "Cluster")
        return
    wanted = {c["spec"]["storageClassName"] for c in of_kind(resources, "PersistentVolumeClaim")}
    for sts in of_kind(resources, "StatefulSet"):
        wanted |= {t["spec"]["storageClassName"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    for cluster in of_kind(resources, "Cluster"):
        wanted |= {cluster["spec"][k]["storageClass"] for k in ("storage", "walStorage")}
    assert wanted <= classes
    assert classes == {"fast-ssd", "standard-ssd", "standard-hdd", "io2-high-performance", "efs"}
    for sc in of_kind(resources, "StorageClass"):
        assert sc["allowVolumeExpansion"] is True


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_hpa_and_pdb_targets_exist(target: str) -> None:
    resources = render(target)
    for hpa in of_kind(resources, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        find(resources, ref["kind"], ref["name"])
    pods = _pods(resources)
    for pdb in of_kind(resources, "PodDisruptionBudget"):
        assert any(_match_labels(pdb["spec"]["selector"], p[1]) for p in pods), pdb["metadata"]["name"]


def _service_port(resources: list[Resource], host: str, port: int) -> tuple[Resource, Any]:
    service = find(resources, "Service", host)
    for p in service["spec"]["ports"]:
        if p["port"] == port:
            return service, p.get("targetPort", port)
    raise AssertionError(f"Service {host} has no port {port}")


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_init_containers_wait_for_real_services(target: str) -> None:
    resources = render(target)
    url = re.compile(r"http://([a-z0-9-]+):(\d+)(/[\w/]*)")
    checked = 0
    for w in workloads(resources):
        for init in pod_spec(w).get("initContainers", []):
            text = " ".join(init.get("command", []) + init.get("args", []))
            for host, port, path in url.findall(text):
                service, target_port = _service_port(resources, host, int(port))
                # The path the init container polls is the readiness path of the pods behind it.
                backing = [
                    x
                    for x in workloads(resources)
                    if _match_labels(
                        {"matchLabels": service["spec"]["selector"]}, pod_template(x)["metadata"].get("labels", {})
                    )
                ]
                assert backing
                probe = containers(backing[0], init=False)[0]["readinessProbe"]["httpGet"]
                assert probe["path"] == path
                assert probe["port"] == target_port
                checked += 1
    if target not in DASHBOARDS:
        assert checked >= 1  # the frontend waits for the API


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_edge_references(target: str) -> None:
    resources = render(target)
    gateways = {g["metadata"]["name"]: g for g in of_kind(resources, "Gateway")}
    for route in of_kind(resources, "HTTPRoute"):
        for parent in route["spec"]["parentRefs"]:
            if parent.get("namespace", route["metadata"]["namespace"]) != route["metadata"]["namespace"]:
                continue  # the dashboard's route attaches to an environment's Gateway
            gateway = gateways[parent["name"]]
            listeners = {listener["name"] for listener in gateway["spec"]["listeners"]}
            assert parent.get("sectionName", next(iter(listeners))) in listeners
        for rule in route["spec"]["rules"]:
            for backend in rule.get("backendRefs", []):
                _service_port(resources, backend["name"], backend["port"])
    for gateway in gateways.values():
        for listener in gateway["spec"]["listeners"]:
            for ref in listener.get("tls", {}).get("certificateRefs", []):
                certificates = [c for c in of_kind(resources, "Certificate") if c["spec"]["secretName"] == ref["name"]]
                assert certificates, f"no Certificate writes {ref['name']}"
                names = set(certificates[0]["spec"]["dnsNames"])
                assert listener["hostname"] in names
    for certificate in of_kind(resources, "Certificate"):
        issuer = certificate["spec"]["issuerRef"]
        find(resources, issuer.get("kind", "Issuer"), issuer["name"])
    for kind in ("BackendTrafficPolicy", "SecurityPolicy"):
        for policy in of_kind(resources, kind):
            for ref in policy["spec"]["targetRefs"]:
                find(resources, ref["kind"], ref["name"])
    for ingress in of_kind(resources, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                svc = path["backend"]["service"]
                _service_port(resources, svc["name"], svc["port"]["number"])
        rendered = {f"{m['metadata']['namespace']}-{m['metadata']['name']}" for m in of_kind(resources, "Middleware")}
        missing = sorted(set(traefik_middlewares(ingress)) - rendered)
        assert not missing, f"Ingress {ingress['metadata']['name']} names Middlewares not rendered: {missing}"
    # ACME validates every name of a Certificate through the edge: a name nothing serves fails its
    # challenge, and the whole Certificate with it.
    served = {listener.get("hostname") for g in gateways.values() for listener in g["spec"]["listeners"]}
    served |= {rule["host"] for ingress in of_kind(resources, "Ingress") for rule in ingress["spec"]["rules"]}
    for certificate in of_kind(resources, "Certificate"):
        unserved = sorted(set(certificate["spec"]["dnsNames"]) - served)
        assert not unserved, f"Certificate {certificate['metadata']['name']}: the edge does not serve {unserved}"


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_monitoring_and_backup_references(target: str) -> None:
    resources = render(target)
    services = of_kind(resources, "Service")
    for monitor in of_kind(resources, "ServiceMonitor"):
        selected = [s for s in services if _match_labels(monitor["spec"]["selector"], s["metadata"].get("labels", {}))]
        assert selected, monitor["metadata"]["name"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert any(p["name"] == endpoint["port"] for s in selected for p in s["spec"]["ports"]), monitor[
                "metadata"
            ]["name"]
            credentials = endpoint.get("authorization", {}).get("credentials")
            if credentials:
                assert credentials["key"] in secret_contents(resources, credentials["name"])
    for backup in of_kind(resources, "ScheduledBackup"):
        find(resources, "Cluster", backup["spec"]["cluster"]["name"])
    for cluster in of_kind(resources, "Cluster"):
        for plugin in cluster["spec"].get("plugins", []):
            find(resources, "ObjectStore", plugin["parameters"]["barmanObjectName"])


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_role_bindings_reference_existing_roles(target: str) -> None:
    resources = render(target)
    for binding in of_kind(resources, "RoleBinding", "ClusterRoleBinding"):
        ref = binding["roleRef"]
        if ref["kind"] == "ClusterRole" and ref["name"] in BUILTIN_CLUSTER_ROLES:
            continue
        find(resources, ref["kind"], ref["name"])
        for subject in binding["subjects"]:
            if subject["kind"] == "ServiceAccount":
                find(resources, "ServiceAccount", subject["name"])


def _images(resources: list[Resource]) -> list[tuple[str, str]]:
    found = [(w["metadata"]["name"], c["image"]) for w in workloads(resources) for c in containers(w)]
    found += [(c["metadata"]["name"], c["spec"]["imageName"]) for c in of_kind(resources, "Cluster")]
    return found


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_images_are_pinned(target: str) -> None:
    """Tags everywhere (never latest); digests on every third-party image everywhere."""
    for workload, image in _images(render(target)):
        name, _, digest = image.partition("@")
        repository, _, tag = name.rpartition(":")
        assert repository and tag and tag != "latest", f"{workload}: {image}"
        if repository != APP_IMAGE:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{workload}: {image}"


def test_prod_app_image_digest_or_pending_release_pin() -> None:
    """The app image is pinned by digest at release (kustomize edit set image). Until then the
    prod overlay carries the pending-digest patch; once a digest is set the patch must go.
    With LEADGEN_REQUIRE_APP_DIGEST=1 (release pipeline) the digest is required."""
    resources = render("overlays/prod")
    app_images = {image for _, image in _images(resources) if image.startswith(APP_IMAGE + ":")}
    pinned = all("@sha256:" in image for image in app_images)
    pending_patch = (K8S / "overlays" / "prod" / "patches" / "app-image-digest-pending.yaml").exists()
    annotated = [
        w["metadata"]["name"]
        for w in workloads(resources)
        if "CKV_K8S_43" in w["metadata"].get("annotations", {}).get("checkov.io/skip1", "")
    ]
    if os.environ.get("LEADGEN_REQUIRE_APP_DIGEST") == "1":
        assert pinned, app_images
    if pinned:
        assert not annotated, "remove patches/app-image-digest-pending.yaml once pinned"
    else:
        assert pending_patch
        assert len(app_images) == 1
        assert set(annotated) == {
            "api",
            "data-service",
            "orchestrator",
            "backend",
            "frontend",
            "worker",
            "scheduler",
            "db-migrate",
        }
