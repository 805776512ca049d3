"""Scaling decisions: is a replica count sensible, and what will the HPA do with it.

An HPA owns the replica count of its Deployment: a manual ``kubectl scale`` lasts until the
HPA's next sync (every 15 s by default), and a count outside [minReplicas, maxReplicas] is moved
back inside at once. See
https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadgen.ops import contract


@dataclass(frozen=True)
class MetricStatus:
    name: str
    current: str
    target: str


@dataclass(frozen=True)
class HpaStatus:
    name: str
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int
    metrics: tuple[MetricStatus, ...]
    conditions: tuple[tuple[str, str, str, str], ...]  # type, status, reason, message


@dataclass(frozen=True)
class ScalePlan:
    service: str
    replicas: int
    current: int
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    hpa: HpaStatus | None = None
    # The HPA bounds that make the count stick, when an HPA exists.
    suggested_min: int | None = None
    suggested_max: int | None = None
    # The fewest replicas the HPA may keep here; None when there is no HPA or no floor.
    floor: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def hpa_change_allowed(self) -> bool:
        """Whether minReplicas may become ``replicas``: never below the environment's floor."""
        return self.hpa is not None and (self.floor is None or self.replicas >= self.floor)


def hpa_status(hpa: dict[str, Any]) -> HpaStatus:
    """Read an ``autoscaling/v2`` HorizontalPodAutoscaler."""
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    current = {_metric_name(m): _format_value(m, "current") for m in status.get("currentMetrics") or []}
    metrics = tuple(
        MetricStatus(_metric_name(m), current.get(_metric_name(m), "<unknown>"), _format_value(m, "target"))
        for m in spec.get("metrics") or []
    )
    conditions = tuple(
        (c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", ""))
        for c in status.get("conditions") or []
    )
    return HpaStatus(
        hpa["metadata"]["name"],
        int(spec.get("minReplicas", 1)),
        int(spec["maxReplicas"]),
        int(status.get("currentReplicas", 0)),
        int(status.get("desiredReplicas", 0)),
        metrics,
        conditions,
    )


def _metric_name(metric: dict[str, Any]) -> str:
    kind = metric.get("type", "")
    body = metric.get(kind[:1].lower() + kind[1:], {}) if kind else {}
    if "name" in body:
        return f"{body['name']}"
    return str((body.get("metric") or {}).get("name", kind or "?"))


def _format_value(metric: dict[str, Any], which: str) -> str:
    kind = metric.get("type", "")
    body = metric.get(kind[:1].lower() + kind[1:], {}) if kind else {}
    value = body.get(which) or {}
    if "averageUtilization" in value:
        return f"{value['averageUtilization']}%"
    for key in ("averageValue", "value"):
        if key in value:
            return str(value[key])
    return "<unknown>"


def plan_scale(
    service: str,
    replicas: int,
    deployment: dict[str, Any],
    hpa: dict[str, Any] | None,
    floor: int | None = None,
) -> ScalePlan:
    """Check a requested replica count against the service, its HPA and the environment's floor
    (``contract.REPLICA_FLOORS``)."""
    current = int((deployment.get("spec") or {}).get("replicas", 1))
    errors: list[str] = []
    warnings: list[str] = []
    if replicas < 0:
        errors.append("replicas must be 0 or more")
    if service in contract.SINGLETONS and replicas != 1:
        errors.append(f"{service} must run exactly 1 replica: two would send every periodic job twice")
    if replicas == 0 and service not in contract.SINGLETONS:
        warnings.append(f"scaling {service} to 0 stops it serving entirely")
    status = hpa_status(hpa) if hpa is not None else None
    suggested_min = suggested_max = None
    if status is not None:
        suggested_min = replicas
        suggested_max = max(status.max_replicas, replicas)
        bounds = f"[{status.min_replicas}, {status.max_replicas}]"
        if replicas < status.min_replicas or replicas > status.max_replicas:
            warnings.append(f"{replicas} is outside the HPA bounds {bounds}: the HPA will move it back within seconds")
        else:
            warnings.append(
                f"HPA {status.name} manages the replica count within {bounds}: it will override "
                "this change at its next sync"
            )
        if replicas == 0:
            errors.append("an HPA cannot keep a Deployment at 0; delete or suspend the HPA first")
    if replicas == current and not errors:
        warnings.append(f"{service} already has {current} replica(s)")
    return ScalePlan(
        service,
        replicas,
        current,
        tuple(errors),
        tuple(warnings),
        status,
        suggested_min,
        suggested_max,
        floor if status is not None else None,
    )
