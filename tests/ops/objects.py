"""Kubernetes objects for the tests, built from the captured-shape fixtures in ``fixtures/``.

Each fixture file is one object exactly as ``kubectl get ... -o json`` prints it; these helpers
copy one and change only what identifies it (name, labels, counts), so every object a test
serves keeps the real shape.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from leadgen.ops import contract
from leadgen.ops.contract import Environment

FIXTURES = Path(__file__).parent / "fixtures"
DEV_NS = "leadgen-dev"
DIGEST = "sha256:" + "4e" * 32
APP_TAG = "1.5.0"
# The kubeconfig context the fake cluster answers on (kubectl's current context by default).
KUBE_CONTEXT = "kind-leadgen"


def load(name: str) -> dict[str, Any]:
    """One fixture: an object (or a ``kind: List``) as kubectl prints it."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def in_namespace(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The fixtures live in leadgen-dev; move one to another namespace."""
    moved: dict[str, Any] = json.loads(json.dumps(obj).replace(DEV_NS, namespace))
    return moved


def as_list(items: list[Any]) -> dict[str, Any]:
    """What ``kubectl get KIND -o json`` prints for several objects."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def _labels(name: str) -> dict[str, str]:
    return {contract.NAME_LABEL: name, contract.PART_OF_LABEL: contract.PART_OF}


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    dep = load("deployment-api.json")
    dep["metadata"]["name"] = name
    dep["metadata"]["labels"] = _labels(name)
    dep["spec"]["selector"]["matchLabels"] = _labels(name)
    dep["spec"]["template"]["metadata"]["labels"] = _labels(name)
    dep["spec"]["template"]["spec"]["containers"][0]["name"] = name
    dep["spec"]["replicas"] = replicas
    for key in ("availableReplicas", "readyReplicas", "replicas", "updatedReplicas"):
        dep["status"][key] = replicas
    return dep


def statefulset(name: str, replicas: int = 1) -> dict[str, Any]:
    sts = load("statefulset-redis.json")
    sts["metadata"]["name"] = name
    sts["metadata"]["labels"] = _labels(name)
    sts["spec"]["replicas"] = replicas
    sts["spec"]["serviceName"] = name
    for key in ("availableReplicas", "currentReplicas", "readyReplicas", "replicas", "updatedReplicas"):
        sts["status"][key] = replicas
    sts["status"]["currentRevision"] = sts["status"]["updateRevision"] = f"{name}-6d8f7b9c5d"
    return sts


def pod(service: str, suffix: str = "x2kqp") -> dict[str, Any]:
    """A Running, Ready pod of ``service``."""
    p = load("pod-api.json")
    p["metadata"]["name"] = f"{service}-7d9c6b8f5d-{suffix}"
    p["metadata"]["labels"] = {**_labels(service), "pod-template-hash": "7d9c6b8f5d"}
    p["spec"]["containers"][0]["name"] = service
    p["status"]["containerStatuses"][0]["name"] = service
    return p


def service(name: str, port: int) -> dict[str, Any]:
    svc = load("service-api.json")
    svc["metadata"]["name"] = name
    svc["metadata"]["labels"] = _labels(name)
    svc["spec"]["selector"] = _labels(name)
    svc["spec"]["ports"][0]["port"] = port
    return svc


def endpointslice(name: str, ready: bool = True) -> dict[str, Any]:
    eps = load("endpointslice-api.json")
    eps["metadata"]["name"] = f"{name}-8qzv2"
    eps["metadata"]["labels"]["kubernetes.io/service-name"] = name
    for ep in eps["endpoints"]:
        ep["conditions"]["ready"] = ready
    return eps


def pvc(name: str) -> dict[str, Any]:
    claim = load("pvc-data-redis-0.json")
    claim["metadata"]["name"] = name
    return claim


def cluster_settings(env: Environment | None, kube_context: str = KUBE_CONTEXT) -> dict[str, Any]:
    """The ``leadgen-cluster-settings`` ConfigMap an overlay applies, naming ``kube_context`` (the
    one the tests' cluster is reached through) as the environment's; ``None``: one that names
    neither environment nor context (applied before those keys existed)."""
    data = {"namespace": env.namespace} if env else {"namespace": "leadgen-dev"}
    if env is not None:
        data[contract.CLUSTER_SETTINGS_ENVIRONMENT] = env.value
        data[contract.CLUSTER_SETTINGS_KUBE_CONTEXT] = kube_context
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": contract.CLUSTER_SETTINGS}, "data": data}


def job_complete() -> dict[str, Any]:
    return load("job-db-migrate-complete.json")


def service_ports(env: Environment) -> dict[str, int]:
    ports = dict(contract.SERVICE_PORTS)
    ports.update({s: 5432 if s == "postgres" else 6379 for s in contract.statefulsets(env)})
    return ports


def replicas(service: str) -> int:
    """How many pods each Deployment runs in the healthy cluster."""
    return 1 if service in contract.SINGLETONS else 2


def healthy(env: Environment) -> dict[str, dict[str, Any]]:
    """Every list ``health-check`` reads, for a healthy ``env``."""
    ns = env.namespace
    objects = {
        "deployments": as_list([deployment(d, replicas(d)) for d in contract.DEPLOYMENTS]),
        "statefulsets": as_list([statefulset(s) for s in contract.statefulsets(env)]),
        "jobs": as_list([job_complete()]),
        "services": as_list([service(n, p) for n, p in service_ports(env).items()]),
        "endpointslices": as_list([endpointslice(n) for n in service_ports(env)]),
        "persistentvolumeclaims": as_list([pvc(f"data-{s}-0") for s in contract.statefulsets(env)]),
        "gateways": as_list([load("gateway-leadgen.json")]),
        "httproutes": as_list([load("httproute-api.json")]),
        "nodes": as_list([load("node-ready.json")]),
        "pods": as_list(
            [pod(d, f"p{i}x2q{n}") for i, d in enumerate(contract.DEPLOYMENTS) for n in range(replicas(d))]
        ),
        "certificates": as_list([load("certificate-leadgen-tls.json")]),
    }
    return {k: in_namespace(v, ns) for k, v in objects.items()}


# --- a rendered overlay, as `kubectl kustomize k8s/overlays/ENV` prints it ------------------------


def _image(env: Environment, name: str = contract.APP_IMAGE, tag: str = APP_TAG) -> str:
    return f"{name}:{tag}@{DIGEST}" if env is Environment.PROD else f"{name}:{tag}"


def _container(name: str, image: str, args: list[str], port: int | None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "args": args,
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if port is not None:
        container["ports"] = [
            {"name": "http", "containerPort": port},
            {"name": "metrics", "containerPort": contract.METRICS_PORT},
        ]
        probe_port = "http"
    else:
        container["ports"] = [{"name": "metrics", "containerPort": contract.METRICS_PORT}]
        probe_port = "metrics"
    container["startupProbe"] = {"httpGet": {"path": "/healthz", "port": probe_port}, "failureThreshold": 30}
    container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": probe_port}}
    container["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": probe_port}}
    return container


def _meta(kind: str, name: str, ns: str, api: str = "v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": _labels(name)}}


def rendered_docs(env: Environment) -> list[dict[str, Any]]:
    ns = env.namespace
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        },
        {**_meta("ConfigMap", "leadgen-config", ns), "data": {"LEADGEN_ENVIRONMENT": env.value}},
    ]
    for name in contract.DEPLOYMENTS:
        docs.append({**_meta("ServiceAccount", name, ns), "automountServiceAccountToken": False})
    for name, port in contract.SERVICE_PORTS.items():
        docs.append(
            {
                **_meta("Service", name, ns),
                "spec": {"selector": _labels(name), "ports": [{"name": "http", "port": port, "targetPort": "http"}]},
            }
        )
    for store in contract.statefulsets(env):
        docs.append(
            {
                **_meta("StatefulSet", store, ns, "apps/v1"),
                "spec": {
                    "serviceName": store,
                    "replicas": 1,
                    "selector": {"matchLabels": _labels(store)},
                    "template": {
                        "metadata": {"labels": _labels(store)},
                        "spec": {
                            "containers": [
                                {**_container(store, _image(env, f"docker.io/library/{store}", "7.4.2"), [], None)}
                            ]
                        },
                    },
                },
            }
        )
    if env.uses_cnpg:
        docs.append({**_meta("Cluster", "postgres", ns, "postgresql.cnpg.io/v1"), "spec": {"instances": 3}})
    migrate = _container("migrate", _image(env), ["db", "upgrade"], None)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        migrate.pop(probe)
    docs.append(
        {
            **_meta("Job", contract.MIGRATION_JOB, ns, "batch/v1"),
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": 900,
                "ttlSecondsAfterFinished": 86400,
                "template": {"spec": {"restartPolicy": "Never", "serviceAccountName": "api", "containers": [migrate]}},
            },
        }
    )
    for name in contract.DEPLOYMENTS:
        http_port = contract.CONTAINER_PORTS.get(name)
        spec: dict[str, Any] = {
            "selector": {"matchLabels": _labels(name)},
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {
                    "serviceAccountName": name,
                    "containers": [_container(name, _image(env), ["serve", "--target", name], http_port)],
                },
            },
        }
        if name == "scheduler":
            spec["replicas"] = 1
        docs.append({**_meta("Deployment", name, ns, "apps/v1"), "spec": spec})
    for name in ("api", "data-service", "orchestrator", "backend"):
        docs.append(
            {
                **_meta("HorizontalPodAutoscaler", name, ns, "autoscaling/v2"),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": 2,
                    "maxReplicas": 10,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                        }
                    ],
                },
            }
        )
    docs.append(
        {
            **_meta("PodDisruptionBudget", "api", ns, "policy/v1"),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": _labels("api")}},
        }
    )
    docs.append(
        {
            **_meta("NetworkPolicy", "default-deny", ns, "networking.k8s.io/v1"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }
    )
    docs.append(
        {
            **_meta("Gateway", "leadgen", ns, "gateway.networking.k8s.io/v1"),
            "spec": {"gatewayClassName": "eg", "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS"}]},
        }
    )
    docs.append(
        {
            **_meta("HTTPRoute", "api", ns, "gateway.networking.k8s.io/v1"),
            "spec": {"parentRefs": [{"name": "leadgen"}], "rules": [{"backendRefs": [{"name": "api", "port": 3000}]}]},
        }
    )
    docs.append(
        {
            **_meta("Certificate", "leadgen-tls", ns, "cert-manager.io/v1"),
            "spec": {
                "secretName": "leadgen-tls",
                "dnsNames": [f"leads.{env.value}.acme-insurance.com"],
                "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt"},
            },
        }
    )
    return docs


def rendered(env: Environment, docs: list[dict[str, Any]] | None = None) -> str:
    return yaml.safe_dump_all(docs if docs is not None else rendered_docs(env), sort_keys=False)


def clone(obj: Any) -> Any:
    return copy.deepcopy(obj)


# --- rollout history of releases, as `kubectl rollout history` and `get replicasets` show it ----


@dataclass(frozen=True)
class Rev:
    """One revision of a Deployment: its number and what deploy stamped on its pod template."""

    number: int
    release: str | None
    schema_head: str | None = None
    image: str = f"{contract.APP_IMAGE}:{APP_TAG}"
    # When its ReplicaSet was made (first rolled out); by default a day after the revision before.
    # A rollback renumbers the revision it goes back to, and keeps this.
    created: str | None = None


def replica_set(service: str, rev: Rev, *, current: bool) -> dict[str, Any]:
    rs: dict[str, Any] = copy.deepcopy(load("replicasets-api.json")["items"][0])
    template_hash = f"{rev.number}b5a4c3d2f"
    labels = {**_labels(service), "pod-template-hash": template_hash}
    rs["metadata"]["name"] = f"{service}-{template_hash}"
    rs["metadata"]["labels"] = labels
    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(rev.number)
    rs["metadata"]["creationTimestamp"] = rev.created or f"2026-10-{rev.number:02d}T09:30:00Z"
    rs["metadata"]["ownerReferences"][0]["name"] = service
    rs["spec"]["replicas"] = 2 if current else 0
    rs["spec"]["selector"]["matchLabels"] = labels
    template = rs["spec"]["template"]
    template["metadata"]["labels"] = labels
    stamped = {contract.RELEASE_ANNOTATION: rev.release, contract.SCHEMA_HEAD_ANNOTATION: rev.schema_head}
    template["metadata"]["annotations"] = {k: v for k, v in stamped.items() if v is not None}
    template["spec"]["containers"][0].update(name=service, image=rev.image)
    return rs


def rollout_history(service: str, revs: list[Rev]) -> str:
    rows = "".join(f"{r.number:<10}<none>\n" for r in revs)
    return f"deployment.apps/{service} \nREVISION  CHANGE-CAUSE\n{rows}\n"


def deployment_at(service: str, current: int) -> dict[str, Any]:
    """A rolled-out Deployment whose current revision is ``current``."""
    dep = deployment(service, replicas(service))
    dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(current)
    return dep
