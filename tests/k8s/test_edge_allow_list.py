"""Who reaches each environment's edge. Prod is public; dev (its keys are committed to git) and
staging answer only the office and VPN ranges of k8s/components/internal-only, whichever edge
they run behind: the Gateway (an Envoy Gateway SecurityPolicy on every HTTPS listener) or an
Ingress (a Traefik ipAllowList Middleware on it). Dev also admits a local cluster's own addresses.
"""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from .render import K8S, Resource, of_kind, render, traefik_middlewares

DEV = ("overlays/dev", "variants/dev-gke")
INTERNAL = (*DEV, "overlays/staging", "variants/staging-ingress")
# Addresses a local cluster's clients come from (port-forward, the host's container network),
# which no client on the internet has.
LOCAL = [ipaddress.IPv4Network(n) for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def office_and_vpn() -> set[str]:
    """The ranges, as k8s/components/internal-only says them once."""
    policy = yaml.safe_load((K8S / "components" / "internal-only" / "security-policy.yaml").read_text())
    return {cidr for rule in policy["spec"]["authorization"]["rules"] for cidr in rule["principal"]["clientCIDRs"]}


def gateway_allow_lists(resources: list[Resource]) -> dict[str, set[str] | None]:
    """Per HTTPS listener of the Gateway, the client ranges it admits (None: everyone)."""
    allowed: dict[str, set[str] | None] = {}
    listeners = [listener for gateway in of_kind(resources, "Gateway") for listener in gateway["spec"]["listeners"]]
    for listener in listeners:
        if listener["protocol"] != "HTTPS":
            continue
        guarding = [
            policy
            for policy in of_kind(resources, "SecurityPolicy")
            if any(
                (ref["kind"], ref["name"]) == ("Gateway", "leadgen")
                and ref.get("sectionName") in (None, listener["name"])
                for ref in policy["spec"].get("targetRefs", [])
            )
            and policy["spec"].get("authorization", {}).get("defaultAction") == "Deny"
        ]
        allowed[listener["name"]] = (
            {
                cidr
                for policy in guarding
                for rule in policy["spec"]["authorization"]["rules"]
                if rule["action"] == "Allow"
                for cidr in rule["principal"]["clientCIDRs"]
            }
            if guarding
            else None
        )
    return allowed


def ingress_allow_lists(resources: list[Resource]) -> dict[str, set[str] | None]:
    """Per Ingress, the client ranges its Traefik ipAllowList Middlewares admit (None: everyone)."""
    middlewares = {f"{m['metadata']['namespace']}-{m['metadata']['name']}": m for m in of_kind(resources, "Middleware")}
    allowed: dict[str, set[str] | None] = {}
    for ingress in of_kind(resources, "Ingress"):
        lists = [
            set(middlewares[ref]["spec"]["ipAllowList"]["sourceRange"])
            for ref in traefik_middlewares(ingress)
            if "ipAllowList" in middlewares[ref]["spec"]
        ]
        allowed[ingress["metadata"]["name"]] = set.intersection(*lists) if lists else None
    return allowed


@pytest.mark.parametrize("target", INTERNAL)
def test_only_prod_faces_the_internet(target: str) -> None:
    resources = render(target)
    edges = {**gateway_allow_lists(resources), **ingress_allow_lists(resources)}
    assert edges, f"{target} has no edge this test knows"
    office = office_and_vpn()
    for edge, allowed in edges.items():
        assert allowed is not None, f"{target}: {edge} answers anyone on the internet"
        assert office <= allowed, f"{target}: {edge} does not admit the office and VPN ranges {sorted(office)}"
        others = allowed - office
        if target in DEV:
            others = {cidr for cidr in others if not any(ipaddress.IPv4Network(cidr).subnet_of(n) for n in LOCAL)}
        assert not others, f"{target}: {edge} also admits {sorted(others)}"
