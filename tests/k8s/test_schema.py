"""Strict schema validation: built-in kinds with kubernetes-validate (Kubernetes 1.32 and 1.35),
custom resources with the models generated from their projects' CRDs (tools/crd-validate)."""

from __future__ import annotations

import json

import pytest

from .render import DEPLOYABLE, K8S, is_component, kustomization_dirs, render
from .schemas import (
    KUBERNETES_VERSIONS,
    builtin_problems,
    is_builtin,
    shipped_versions,
    validate_custom_resources,
)

RENDERED = list(DEPLOYABLE) + [
    str(d.relative_to(K8S))
    for d in kustomization_dirs()
    if not is_component(d)
    and not str(d.relative_to(K8S)).startswith(("overlays/", "variants/"))
    and d != K8S / "dashboard"
]

# The custom resources the issue names; each must be rendered somewhere and validated.
REQUIRED_CUSTOM_KINDS = {
    "ExternalSecret",
    "ClusterSecretStore",
    "Certificate",
    "Issuer",
    "Gateway",
    "HTTPRoute",
    "Cluster",
    "ScheduledBackup",
    "ServiceMonitor",
    "PrometheusRule",
}


def test_requested_kubernetes_versions_are_shipped() -> None:
    """kubernetes-validate 1.37.0 has exact schemas for both versions the issue asks for."""
    available = set(shipped_versions())
    for version in KUBERNETES_VERSIONS:
        assert version in available


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", RENDERED)
def test_builtin_resources_validate_strictly(target: str, version: str) -> None:
    problems = [
        f"{r['kind']}/{r['metadata']['name']}: {p}"
        for r in render(target)
        if is_builtin(r, version)
        for p in builtin_problems(r, version)
    ]
    assert not problems


def _custom_resources() -> list[dict[str, object]]:
    """Custom resources of everything deployable (building-block directories still hold the
    environment placeholders, e.g. host name app.DOMAIN, which the CRDs rightly reject)."""
    unique: dict[str, dict[str, object]] = {}
    for target in DEPLOYABLE:
        for resource in render(target):
            if not is_builtin(resource):
                unique[json.dumps(resource, sort_keys=True)] = resource
    return list(unique.values())


# Resources the validator must reject: a wrong type, an unknown field, a bad enum value and a
# kind without a model. Validated in the same run as the real resources (one Node start-up).
BAD_RESOURCES = [
    {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "bad-typo"},
        "spec": {
            "parentRefs": [{"name": "leadgen", "sectionNme": "https"}],
            "rules": [{"backendRefs": [{"name": "api", "port": 3000}]}],
        },
    },
    {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "bad-enum"},
        "spec": {"secretName": "x", "issuerRef": {"name": "leadgen"}, "privateKey": {"algorithm": "DSA"}},
    },
    {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "bad-type"},
        "spec": {"refreshInterval": 3600},
    },
    {"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": {"name": "bad-nomodel"}},
]


def test_custom_resources_validate_against_their_crd_models() -> None:
    resources = _custom_resources()
    kinds = {str(r["kind"]) for r in resources}
    assert kinds >= REQUIRED_CUSTOM_KINDS, REQUIRED_CUSTOM_KINDS - kinds
    report = validate_custom_resources([*resources, *BAD_RESOURCES])
    results = report["results"]
    assert len(results) == len(resources) + len(BAD_RESOURCES)
    good, bad = results[: len(resources)], results[len(resources) :]
    invalid = [f"{r['kind']}/{r['name']}: {'; '.join(r['errors'])}" for r in good if r["errors"]]
    assert not invalid
    # The validator bites.
    errors = {r["name"]: " ".join(r["errors"]) for r in bad}
    assert "sectionNme" in errors["bad-typo"]
    assert "allowed values" in errors["bad-enum"]
    assert "must be string" in errors["bad-type"]
    assert "no model" in errors["bad-nomodel"]
