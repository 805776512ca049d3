"""Every object an overlay or variant renders is the platform's by its label, and only by its label.

``leadgen k8s deploy`` finds what an earlier render applied and this one lacks by
``app.kubernetes.io/part-of=leadgen`` (``leadgen.ops.rules.orphans``), so an unlabelled route or
policy taken out of the overlay would linger unreported. The label comes from one transformer
(``k8s/infrastructure/transformers/part-of``); it must never reach a selector, since a
Deployment's or StatefulSet's selector cannot change under ``kubectl apply``.
"""

from __future__ import annotations

from typing import Any

import pytest

from leadgen.ops.contract import PART_OF, PART_OF_LABEL

from .render import DASHBOARDS, DEPLOYABLE, POD_TEMPLATE_KINDS, pod_template, render

DEPLOYED = [target for target in DEPLOYABLE if target not in DASHBOARDS]
# Kinds whose selector picks one workload's pods: the workloads' own (immutable), the Services'
# and PodDisruptionBudgets'. (NetworkPolicy allow-metrics-scrape selects every platform pod by the
# label on purpose; the transformer adds it to no selector, as the before/after renders showed.)
SELECTING_KINDS = ("Deployment", "StatefulSet", "Service", "PodDisruptionBudget")


def labels_of(metadata: dict[str, Any] | None) -> dict[str, str]:
    return dict((metadata or {}).get("labels") or {})


def selector_of(resource: dict[str, Any]) -> dict[str, Any]:
    return dict((resource.get("spec") or {}).get("selector") or {})


@pytest.mark.parametrize("target", DEPLOYED)
def test_every_rendered_object_carries_the_part_of_label(target: str) -> None:
    unlabelled = [
        f"{r['kind']}/{r['metadata']['name']}"
        for r in render(target)
        if labels_of(r["metadata"]).get(PART_OF_LABEL) != PART_OF
    ]
    assert not unlabelled, f"{target}: without {PART_OF_LABEL}={PART_OF}: {', '.join(unlabelled)}"


@pytest.mark.parametrize("target", DEPLOYED)
def test_every_pod_template_and_claim_template_carries_it(target: str) -> None:
    """``leadgen k8s`` picks pods by it (``contract.selector_for``), and spreads them by it."""
    missing = []
    for workload in (r for r in render(target) if r["kind"] in POD_TEMPLATE_KINDS):
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        if labels_of(pod_template(workload).get("metadata")).get(PART_OF_LABEL) != PART_OF:
            missing.append(f"{name} pod template")
        for claim in workload["spec"].get("volumeClaimTemplates") or []:
            if labels_of(claim.get("metadata")).get(PART_OF_LABEL) != PART_OF:
                missing.append(f"{name} claim {claim['metadata']['name']}")
    assert not missing, f"{target}: " + ", ".join(missing)


@pytest.mark.parametrize("target", DEPLOYED)
def test_the_label_is_in_no_workload_selector(target: str) -> None:
    selecting = [
        f"{r['kind']}/{r['metadata']['name']}"
        for r in render(target)
        if r["kind"] in SELECTING_KINDS and PART_OF_LABEL in str(selector_of(r))
    ]
    assert not selecting, f"{target}: {PART_OF_LABEL} in the selector of {', '.join(selecting)}"
