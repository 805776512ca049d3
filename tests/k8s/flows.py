"""The network flows the platform needs: the specification NetworkPolicies are checked against.

Written from the service contract (BRIEF.md section 2, issue 4, registry.py `needs`), not from
the policies. docs/KUBERNETES_NETWORKING.md renders the same list for operators.
"""

from __future__ import annotations

from leadgen.targets.registry import TARGETS

from .netpol import Flow
from .render import Resource, of_kind, on_gke, workloads

# What each store listens on for its clients, by the need in registry.py that uses it.
STORE_PORTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "db": ("postgres", (5432,)),
    "redis": ("redis", (6379,)),
    "broker": ("redis", (6379,)),
    "vectors": ("qdrant", (6333, 6334)),
    "graph": ("neo4j", (7687,)),
}
# Outbound internet traffic per target: LLM providers (orchestrator, worker), and the worker's
# messages, SMTP submission and the SMS gateway. The backend only enqueues them.
INTERNET: dict[str, tuple[int, ...]] = {
    "orchestrator": (443,),
    "worker": (587, 443),
}
# The edge sends each HTTP target its own traffic; the frontend calls the services its pages read
# (frontend/client.py Peers), never the backend.
EDGE_TARGETS = ("frontend", "api", "data-service", "orchestrator", "backend")
FRONTEND_CALLS = ("api", "data-service", "orchestrator")


def _tcp(src: str, dst: str, *ports: int) -> set[Flow]:
    return {(src, dst, port, "TCP") for port in ports}


def needed_flows(resources: list[Resource], *, edge: str = "gateway") -> set[Flow]:
    """Every flow the rendered environment needs, and only those."""
    names = {w["metadata"]["name"] for w in workloads(resources)}
    cnpg = {c["metadata"]["name"] for c in of_kind(resources, "Cluster")}
    names |= cnpg
    edge_actor = "gateway" if edge == "gateway" else "ingress-controller"
    gke = on_gke(resources)
    flows: set[Flow] = set()

    # Everyone resolves names: on GKE through the NodeLocal DNSCache pod of its node as well.
    everyone = set(names)
    acme = any("acme" in i["spec"] for i in of_kind(resources, "Issuer", "ClusterIssuer"))
    if acme:
        everyone.add("acme-http01-solver")
    resolvers = ("kube-dns", "node-local-dns") if gke else ("kube-dns",)
    for name in everyone:
        for resolver in resolvers:
            flows |= {(name, resolver, 53, "UDP"), (name, resolver, 53, "TCP")}

    # Edge and frontend.
    for target in EDGE_TARGETS:
        port = TARGETS[target].http_port
        assert port is not None
        flows |= _tcp(edge_actor, target, port)
    for target in FRONTEND_CALLS:
        port = TARGETS[target].http_port
        assert port is not None
        flows |= _tcp("frontend", target, port)
    if acme:
        flows |= _tcp(edge_actor, "acme-http01-solver", 8089)

    # Each target reaches the stores its needs name, and the internet where it must.
    for name, spec in TARGETS.items():
        for need in spec.needs:
            if need in STORE_PORTS:
                store, store_ports = STORE_PORTS[need]
                flows |= _tcp(name, store, *store_ports)
        flows |= _tcp(name, "internet", *INTERNET.get(name, ()))
    flows |= _tcp("db-migrate", "postgres", 5432)
    if "postgres-backup" in names:
        flows |= _tcp("postgres-backup", "postgres", 5432)

    # Prometheus scrapes every platform pod that exposes the metrics port 9090.
    for workload in workloads(resources):
        pod = (
            workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            if workload["kind"] == "CronJob"
            else workload["spec"]["template"]["spec"]
        )
        exposed = {p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
        if 9090 in exposed:
            flows |= _tcp("prometheus", workload["metadata"]["name"], 9090)
    # ...and Qdrant's own /metrics (API key) where a ServiceMonitor scrapes it.
    if any(m["metadata"]["name"] == "qdrant" for m in of_kind(resources, "ServiceMonitor")):
        flows |= _tcp("prometheus", "qdrant", 6333)

    # Production datastores replicate among their own pods.
    for cluster in cnpg:
        flows |= _tcp(cluster, cluster, 5432, 8000)  # streaming replication, instance status
        flows |= _tcp("cnpg-operator", cluster, 8000)
        flows |= _tcp("prometheus", cluster, 9187)
        flows |= _tcp(cluster, "internet", 443)  # WAL archive and base backups
        flows |= _tcp(cluster, "kube-api", 443)  # the instance manager
        if gke:  # ...whose Workload Identity token comes from the metadata server (V2 and V1 address)
            flows |= _tcp(cluster, "metadata-server", 80, 988)
    redis = next((s for s in of_kind(resources, "StatefulSet") if s["metadata"]["name"] == "redis"), None)
    if redis is not None and any(c["name"] == "sentinel" for c in redis["spec"]["template"]["spec"]["containers"]):
        flows |= _tcp("redis", "redis", 6379, 26379)
        for name, spec in TARGETS.items():
            if spec.needs & {"redis", "broker"}:
                flows |= _tcp(name, "redis", 26379)
    qdrant = next((s for s in of_kind(resources, "StatefulSet") if s["metadata"]["name"] == "qdrant"), None)
    if qdrant is not None and (qdrant["spec"].get("replicas") or 1) > 1:
        flows |= _tcp("qdrant", "qdrant", 6335)
    return flows


def dashboard_flows(*, gke: bool) -> set[Flow]:
    """Headlamp: from the Gateway only; to DNS (on GKE through the NodeLocal DNSCache pod of its
    node as well) and the Kubernetes API only."""
    resolvers = ("kube-dns", "node-local-dns") if gke else ("kube-dns",)
    dns = {("headlamp", resolver, 53, protocol) for resolver in resolvers for protocol in ("UDP", "TCP")}
    return {("gateway", "headlamp", 4466, "TCP"), ("headlamp", "kube-api", 443, "TCP"), *dns}
