"""What an earlier deploy applied that the overlay no longer renders.

Server-side apply never deletes: an object taken out of the overlay (a renamed Service, a dropped
HPA or PodDisruptionBudget) stays in the cluster and keeps acting. Deploy lists the platform's
objects (``app.kubernetes.io/part-of=leadgen``, which k8s/infrastructure/transformers/part-of puts
on every object an overlay renders) of the kinds the overlay applies, and reports
those the render no longer holds with the command that deletes them. It deletes nothing itself:
``kubectl apply --prune`` decides by label alone, and one wrong label would delete a live object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from leadgen.ops.rules.manifests import CLUSTER_SCOPED, Resource

# Kinds never reported, though the overlay applies them: each release's generated ConfigMaps and
# Secrets (name-hash suffixed) are still mounted by the ReplicaSets `rollback` goes back to; a
# claim holds data; Jobs are also made by CronJobs, and the migration Job is deploy's own.
NEVER_REPORTED = frozenset({"ConfigMap", "Secret", "PersistentVolumeClaim", "Job"})


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def resource_type(kind: str, api_version: str) -> str:
    """``deployment.apps``, ``service``: a name kubectl resolves to exactly this kind."""
    group = _group(api_version)
    return f"{kind.lower()}.{group}" if group else kind.lower()


def resource_types(resources: Iterable[Resource]) -> list[str]:
    """The kinds to look for leftovers of: the namespaced ones the render applies."""
    return sorted(
        {
            resource_type(r.kind, r.api_version)
            for r in resources
            if r.kind not in NEVER_REPORTED and r.kind not in CLUSTER_SCOPED
        }
    )


def left_behind(listed: Iterable[dict[str, Any]], resources: Iterable[Resource]) -> list[str]:
    """``kind.group/name`` of each listed object the render does not hold; one a controller made
    (it has an owner) goes with its owner, so it is not one."""
    rendered = {(_group(r.api_version), r.kind, r.name) for r in resources}
    found = []
    for obj in listed:
        meta = obj.get("metadata") or {}
        kind, api_version = str(obj.get("kind", "")), str(obj.get("apiVersion", ""))
        if kind in NEVER_REPORTED or meta.get("ownerReferences"):
            continue
        if (_group(api_version), kind, meta.get("name")) not in rendered:
            found.append(f"{resource_type(kind, api_version)}/{meta.get('name')}")
    return sorted(found)
