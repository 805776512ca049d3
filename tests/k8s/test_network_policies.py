"""NetworkPolicy reachability: every needed flow is allowed and nothing else is.

The allowed set is computed from the rendered policies (tests/k8s/netpol.py); the needed set is
the service contract (tests/k8s/flows.py). Both directions are default-deny.
"""

from __future__ import annotations

import ipaddress

import pytest

from .flows import dashboard_flows, needed_flows
from .netpol import cluster_for, describe
from .render import DASHBOARDS, find, of_kind, on_gke, render

ENVIRONMENTS = {
    "overlays/dev": "gateway",
    "overlays/staging": "gateway",
    "overlays/prod": "gateway",
    "variants/dev-gke": "gateway",
    "variants/prod-gke": "gateway",
    "variants/staging-ingress": "ingress",
}


def _kube_api_ip(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr).hosts()))


@pytest.mark.parametrize("target", list(ENVIRONMENTS))
def test_default_deny_both_directions(target: str) -> None:
    policies = of_kind(render(target), "NetworkPolicy")
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny


@pytest.mark.parametrize("target", list(ENVIRONMENTS))
def test_exactly_the_needed_flows_are_allowed(target: str) -> None:
    resources = render(target)
    settings = find(resources, "ConfigMap", "leadgen-cluster-settings")["data"]
    edge = ENVIRONMENTS[target]
    api_cidr = settings["gkeKubeApiCIDR"] if on_gke(resources) else settings["kubeApiCIDR"]
    cluster = cluster_for(resources, kube_api_ip=_kube_api_ip(api_cidr), edge=edge)
    allowed = cluster.allowed_flows()
    needed = needed_flows(resources, edge=edge)
    missing = describe(needed - allowed)
    extra = describe(allowed - needed)
    assert not missing, f"needed but blocked: {missing}"
    assert not extra, f"allowed but not needed: {extra}"


@pytest.mark.parametrize("target", DASHBOARDS)
def test_dashboard_reachable_only_through_the_gateway(target: str) -> None:
    resources = render(target)
    route = find(resources, "HTTPRoute", "headlamp")
    gateway_namespace = route["spec"]["parentRefs"][0]["namespace"]
    egress_cidrs = [
        peer["ipBlock"]["cidr"]
        for p in of_kind(resources, "NetworkPolicy")
        for rule in p["spec"].get("egress") or []
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    assert len(egress_cidrs) == 1
    gke = target.endswith("-gke")
    cluster = cluster_for(
        resources, kube_api_ip=_kube_api_ip(egress_cidrs[0]), gateway_namespace=gateway_namespace, gke=gke
    )
    allowed = cluster.allowed_flows()
    needed = dashboard_flows(gke=gke)
    assert describe(allowed) == describe(needed)
    assert of_kind(resources, "SecurityPolicy"), "the IP allow-list"
    for service in of_kind(resources, "Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
