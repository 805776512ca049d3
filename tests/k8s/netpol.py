"""Which pod may reach which pod (or address) on which port, computed from NetworkPolicies.

Semantics follow the Kubernetes NetworkPolicy API (networking.k8s.io/v1):
- a pod is isolated for ingress (egress) when at least one policy in its namespace selects it
  and lists Ingress (Egress) in policyTypes; an isolated pod admits only what some rule allows;
- a rule's peers: podSelector alone = pods of the policy's namespace; namespaceSelector alone =
  all pods of the matching namespaces; both in one peer = those pods of those namespaces;
  ipBlock = addresses (cluster pods are never matched here: pod CIDRs are private and every
  ipBlock in our policies either excludes the private ranges or names the API endpoint);
- no `from`/`to` = every peer; no `ports` = every port; named ports resolve against the
  destination pod's container ports;
- a connection needs the source's egress AND the destination's ingress to allow it.
Endpoints outside the rendered namespace (Gateway proxies, Prometheus, DNS, the internet, the
Kubernetes API, the node's metadata server) are modelled as pods or addresses whose own side is
unrestricted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .render import Resource, of_kind, on_gke, pod_template, workloads


@dataclass(frozen=True)
class Port:
    number: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels) or an IP address, named by the workload it stands for."""

    workload: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    ip: str | None = None
    ports: tuple[Port, ...] = ()
    # Endpoints outside the rendered namespace have no policies of ours.
    external: bool = False

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


Flow = tuple[str, str, int, str]  # (source workload, destination workload, port, protocol)


def _match_labels(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and labels.get(k) in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


@dataclass
class Cluster:
    """The pods and policies of one rendered target plus the world around it."""

    namespace_labels: dict[str, dict[str, str]]
    endpoints: list[Endpoint]
    policies: list[Resource] = field(default_factory=list)

    def _ns_labels(self, namespace: str) -> dict[str, str]:
        labels = dict(self.namespace_labels.get(namespace, {}))
        labels["kubernetes.io/metadata.name"] = namespace
        return labels

    def _peer_matches(self, peer: dict[str, Any], policy_ns: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            if other.ip is None:
                return False
            address = ipaddress.ip_address(other.ip)
            block = peer["ipBlock"]
            if address not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(address in ipaddress.ip_network(e) for e in block.get("except", []))
        if other.namespace is None:
            return False
        if "namespaceSelector" in peer:
            if not _match_labels(peer["namespaceSelector"], self._ns_labels(other.namespace)):
                return False
        elif other.namespace != policy_ns:
            return False
        return _match_labels(peer.get("podSelector"), other.label_map)

    @staticmethod
    def _port_matches(rule_ports: list[dict[str, Any]] | None, port: Port) -> bool:
        if not rule_ports:
            return True
        for entry in rule_ports:
            if entry.get("protocol", "TCP") != port.protocol:
                continue
            wanted = entry.get("port")
            if wanted is None:
                return True
            if isinstance(wanted, str):
                if wanted == port.name:
                    return True
                continue
            if wanted <= port.number <= entry.get("endPort", wanted):
                return True
        return False

    def _allowed(self, pod: Endpoint, other: Endpoint, port: Port, direction: str) -> bool:
        """Does `pod`'s own side allow traffic to/from `other` on `port`?"""
        if pod.external:
            return True
        policy_type = "Ingress" if direction == "ingress" else "Egress"
        peers_key = "from" if direction == "ingress" else "to"
        selecting = [
            p
            for p in self.policies
            if p["metadata"].get("namespace") == pod.namespace
            and policy_type in p["spec"].get("policyTypes", ["Ingress"])
            and _match_labels(p["spec"].get("podSelector"), pod.label_map)
        ]
        if not selecting:
            return True
        for policy in selecting:
            for rule in policy["spec"].get(direction) or []:
                peers = rule.get(peers_key)
                if peers and not any(
                    self._peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers
                ):
                    continue
                if self._port_matches(rule.get("ports"), port):
                    return True
        return False

    def allowed_flows(self) -> set[Flow]:
        flows: set[Flow] = set()
        for src in self.endpoints:
            if src.ip is not None:  # addresses only receive traffic in this model
                continue
            for dst in self.endpoints:
                if dst is src or (src.external and dst.external):
                    continue
                for port in dst.ports:
                    if self._allowed(src, dst, port, "egress") and self._allowed(dst, src, port, "ingress"):
                        flows.add((src.workload, dst.workload, port.number, port.protocol))
        return flows


# ---------------------------------------------------------------------------------------------
# Building the model from a rendered overlay


def _container_ports(template: dict[str, Any]) -> tuple[Port, ...]:
    ports: list[Port] = []
    for container in template["spec"].get("containers", []):
        for p in container.get("ports", []):
            ports.append(Port(p["containerPort"], p.get("protocol", "TCP"), p.get("name")))
    return tuple(ports)


def _labels(mapping: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(mapping.items()))


def rendered_endpoints(resources: list[Resource]) -> list[Endpoint]:
    """Pods the rendered workloads create. Two pods for anything that runs replicas, so that
    flows among a workload's own pods (replication) are visible."""
    found: list[Endpoint] = []
    for workload in workloads(resources):
        template = pod_template(workload)
        namespace = workload["metadata"].get("namespace")
        name = workload["metadata"]["name"]
        replicas = 2 if workload["kind"] in ("Deployment", "StatefulSet") else 1
        for _ in range(replicas):
            found.append(
                Endpoint(
                    workload=name,
                    namespace=namespace,
                    labels=_labels(template["metadata"].get("labels", {})),
                    ports=_container_ports(template),
                )
            )
    # CloudNativePG instances: inherited labels + the operator's own; a primary and a replica.
    for cluster in of_kind(resources, "Cluster"):
        name = cluster["metadata"]["name"]
        inherited = cluster["spec"].get("inheritedMetadata", {}).get("labels", {})
        for role in ("primary", "replica"):
            labels = {**inherited, "cnpg.io/cluster": name, "cnpg.io/instanceRole": role}
            found.append(
                Endpoint(
                    workload=name,
                    namespace=cluster["metadata"].get("namespace"),
                    labels=_labels(labels),
                    ports=(
                        Port(5432, name="postgresql"),
                        Port(8000, name="status"),
                        Port(9187, name="metrics"),
                    ),
                )
            )
    return found


# Stand-in addresses: a public one (TEST-NET-3) and one inside the kube API CIDR.
INTERNET_IP = "203.0.113.10"
INTERNET_PORTS = (Port(25), Port(80), Port(443), Port(587), Port(5432), Port(6379), Port(8080))
KUBE_API_PORTS = (Port(443), Port(6443))
# The node's link-local metadata server: EC2's instance metadata, GKE's metadata server (which
# hands out Workload Identity tokens; 169.254.169.252:988 is where Dataplane V1 redirects it).
METADATA_IP = "169.254.169.254"
GKE_METADATA_V1_IP = "169.254.169.252"


def world(
    namespace: str,
    kube_api_ip: str,
    *,
    acme_solver: bool,
    edge: str = "gateway",
    gateway_namespace: str | None = None,
    gke: bool = False,
) -> list[Endpoint]:
    """Endpoints around the namespace: edge proxies, Prometheus, DNS, operators, the internet, the
    metadata server; on GKE also NodeLocal DNSCache (the Terraform enables it), whose pod on each
    node answers the queries Dataplane V2 redirects from the kube-dns Service."""
    items = [
        Endpoint(
            "prometheus",
            "monitoring",
            _labels({"app.kubernetes.io/name": "prometheus"}),
            external=True,
        ),
        Endpoint(
            "kube-dns",
            "kube-system",
            _labels({"k8s-app": "kube-dns"}),
            ports=(Port(53, "UDP"), Port(53, "TCP")),
            external=True,
        ),
        Endpoint(
            "cnpg-operator",
            "cnpg-system",
            _labels({"app.kubernetes.io/name": "cloudnative-pg"}),
            external=True,
        ),
        Endpoint("internet", ip=INTERNET_IP, ports=INTERNET_PORTS, external=True),
        Endpoint("kube-api", ip=kube_api_ip, ports=KUBE_API_PORTS, external=True),
        Endpoint("metadata-server", ip=METADATA_IP, ports=(Port(80),), external=True),
        # A pod that matches nothing anywhere: proves nothing is allowed "to everyone".
        Endpoint("stranger", "default", _labels({"app": "stranger"}), external=True),
    ]
    if gke:
        items += [
            Endpoint("metadata-server", ip=GKE_METADATA_V1_IP, ports=(Port(988),), external=True),
            Endpoint(
                "node-local-dns",
                "kube-system",
                _labels({"k8s-app": "node-local-dns"}),
                ports=(Port(53, "UDP"), Port(53, "TCP")),
                external=True,
            ),
        ]
    if edge == "gateway":
        items.append(
            Endpoint(
                "gateway",
                "envoy-gateway-system",
                _labels(
                    {
                        "app.kubernetes.io/name": "envoy",
                        "gateway.envoyproxy.io/owning-gateway-name": "leadgen",
                        "gateway.envoyproxy.io/owning-gateway-namespace": gateway_namespace or namespace,
                    }
                ),
                external=True,
            )
        )
    else:
        items.append(Endpoint("ingress-controller", "ingress", (), external=True))
    if acme_solver:
        items.append(
            Endpoint(
                "acme-http01-solver",
                namespace,
                _labels({"acme.cert-manager.io/http01-solver": "true"}),
                ports=(Port(8089),),
            )
        )
    return items


def cluster_for(
    resources: list[Resource],
    *,
    kube_api_ip: str,
    edge: str = "gateway",
    gateway_namespace: str | None = None,
    gke: bool | None = None,
) -> Cluster:
    """The cluster the rendered objects run in, with what is outside them; on GKE (told, or seen
    from the render's StorageClasses) with its metadata server and NodeLocal DNSCache."""
    namespaces = of_kind(resources, "Namespace")
    namespace = namespaces[0]["metadata"]["name"]
    has_acme = any("acme" in issuer["spec"] for issuer in of_kind(resources, "Issuer", "ClusterIssuer"))
    namespace_labels = {ns["metadata"]["name"]: ns["metadata"].get("labels", {}) for ns in namespaces}
    if edge == "ingress":
        namespace_labels["ingress"] = {"leadgen.io/ingress-controller": "true"}
    return Cluster(
        namespace_labels=namespace_labels,
        endpoints=[
            *rendered_endpoints(resources),
            *world(
                namespace,
                kube_api_ip,
                acme_solver=has_acme,
                edge=edge,
                gateway_namespace=gateway_namespace,
                gke=on_gke(resources) if gke is None else gke,
            ),
        ],
        policies=of_kind(resources, "NetworkPolicy"),
    )


def describe(flows: Iterable[Flow]) -> list[str]:
    return sorted(f"{s} -> {d}:{p}/{proto}" for s, d, p, proto in flows)
