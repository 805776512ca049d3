"""Health checks: kubectl's JSON in, a pass/warn/fail line per item out.

A warning never fails the check: it marks something a person should look at (a rolling
update in progress, a restarted container, a certificate renewing late). But a check that could
read nothing vouches for nothing: not reading a core list (``CORE_CATEGORIES``) fails, and so does
a run in which no check passed.

A controller's condition describes the spec it last saw: its ``observedGeneration``. One about an
older generation than ``metadata.generation`` says nothing about the spec in force, so it is not
counted: the object is "not reconciled", and fails. Nothing records when the spec changed, so a
stale status cannot be told from a controller that is down or stuck; ``deploy``, the one command
that knows it just changed the spec, waits for the controllers before it checks (``reconciled``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadgen.ops import contract
from leadgen.ops.rules import workloads
from leadgen.ops.rules.workloads import BROKEN_WAITING


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    category: str
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Thresholds:
    """When deep checks warn or fail."""

    cert_warn_days: int = 21
    cert_fail_days: int = 7
    pending_grace: timedelta = timedelta(minutes=5)


# The lists without which the health check says nothing about the platform.
CORE_CATEGORIES = frozenset({"Deployment", "StatefulSet", "Service"})
# The kind of object each category's checks judge, by the check's name.
JUDGED_KINDS: dict[str, str] = {
    "Deployment": "Deployment",
    "Readiness": "Deployment",
    "Readyz": "Deployment",
    "StatefulSet": "StatefulSet",
    "Cluster": "Cluster",
    "Job": "Job",
    "Service": "Service",
    "PVC": "PersistentVolumeClaim",
    "Gateway": "Gateway",
    "HTTPRoute": "HTTPRoute",
    "Certificate": "Certificate",
}
# The conditions that say a Gateway serves, and that a route is attached to its Gateway.
GATEWAY_CONDITIONS = ("Accepted", "Programmed")
ROUTE_CONDITIONS = ("Accepted", "ResolvedRefs")


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed (warnings allowed) and something passed, 1 otherwise."""
    statuses = {c.status for c in checks}
    return 0 if Status.PASS in statuses and Status.FAIL not in statuses else 1


def judges(check: Check, objects: Collection[tuple[str, str]]) -> bool:
    """Whether ``check`` is about one of ``objects`` (kind, name)."""
    return (JUDGED_KINDS.get(check.category), check.name) in objects


def _items(listed: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((listed or {}).get("items") or [])


def _by_name(listed: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in _items(listed)}


def _from_state(category: str, state: workloads.WorkloadState) -> Check:
    status = {"ready": Status.PASS, "progressing": Status.WARN, "failed": Status.FAIL}[state.state]
    if state.state == "progressing" and state.ready == 0 and state.desired > 0:
        status = Status.FAIL  # nothing serves at all
    return Check(category, state.name, status, state.message)


def _missing(category: str, listed: dict[str, Any], expected: Iterable[str]) -> Iterator[Check]:
    """A failure for each expected object the list lacks."""
    found = _by_name(listed)
    for name in expected:
        if name not in found:
            yield Check(category, name, Status.FAIL, "not found")


def check_deployments(listed: dict[str, Any], expected: Iterable[str]) -> Iterator[Check]:
    yield from _missing("Deployment", listed, expected)
    for dep in _items(listed):
        yield _from_state("Deployment", workloads.deployment_state(dep))


def check_statefulsets(listed: dict[str, Any], expected: Iterable[str]) -> Iterator[Check]:
    yield from _missing("StatefulSet", listed, expected)
    for sts in _items(listed):
        yield _from_state("StatefulSet", workloads.statefulset_state(sts))


def check_cnpg_cluster(cluster: dict[str, Any] | None, name: str) -> Check:
    if cluster is None:
        return Check("Cluster", name, Status.FAIL, "CloudNativePG Cluster not found")
    return _from_state("Cluster", workloads.cnpg_cluster_state(cluster))


def check_jobs(listed: dict[str, Any], migration_job: str) -> Iterator[Check]:
    found = _by_name(listed)
    if migration_job not in found:
        # Finished Jobs are removed by their ttlSecondsAfterFinished; deploy waits for success.
        yield Check("Job", migration_job, Status.PASS, "not present (removed after it finished)")
    for job in found.values():
        state, message = workloads.job_state(job)
        status = {"complete": Status.PASS, "running": Status.WARN, "failed": Status.FAIL}[state]
        yield Check("Job", job["metadata"]["name"], status, message)


def ready_endpoints(slices: dict[str, Any]) -> dict[str, int]:
    """Ready endpoints per Service name, summed over its EndpointSlices."""
    ready: dict[str, int] = {}
    for eps in _items(slices):
        owner = (eps.get("metadata") or {}).get("labels", {}).get("kubernetes.io/service-name")
        if owner is None:
            continue
        count = sum(1 for ep in eps.get("endpoints") or [] if (ep.get("conditions") or {}).get("ready", False))
        ready[owner] = ready.get(owner, 0) + count
    return ready


def check_services(services: dict[str, Any], slices: dict[str, Any], expected: Iterable[str]) -> Iterator[Check]:
    """Each expected Service exists; every Service with a selector has at least one ready
    endpoint (EndpointSlices)."""
    yield from _missing("Service", services, expected)
    ready = ready_endpoints(slices)
    for svc in _items(services):
        name = svc["metadata"]["name"]
        spec = svc.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            yield Check("Service", name, Status.PASS, "no selector (endpoints managed elsewhere)")
            continue
        count = ready.get(name, 0)
        if count:
            yield Check("Service", name, Status.PASS, f"{count} ready endpoint(s)")
        else:
            yield Check("Service", name, Status.FAIL, "no ready endpoints")


# What the PersistentVolume controller reports, again on each resync, for a Pending claim whose
# StorageClass binds only once a pod uses it (volumeBindingMode: WaitForFirstConsumer) while no pod
# does; once one does, the reason changes (WaitForPodScheduled).
WAITING_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


def pending_claims(listed: dict[str, Any]) -> list[str]:
    return [pvc["metadata"]["name"] for pvc in _items(listed) if _phase(pvc) == "Pending"]


def claims_in_use(pods: dict[str, Any]) -> set[str]:
    """The PersistentVolumeClaims some pod mounts."""
    return {
        str(volume["persistentVolumeClaim"]["claimName"])
        for pod in _items(pods)
        for volume in (pod.get("spec") or {}).get("volumes") or []
        if volume.get("persistentVolumeClaim")
    }


def claims_waiting_for_first_consumer(events: dict[str, Any], pods: dict[str, Any]) -> set[str]:
    """Claims that are Pending only because nothing has used them yet.

    The StorageClass that says so is cluster-scoped, beyond the namespaced roles this runs with;
    the claim's latest event states the controller's reading of it. A pod that mounts the claim
    makes its Pending a real problem, whatever an older event says.
    """
    latest: dict[str, str] = {}
    for line in workloads.events(events, limit=len(_items(events))):  # oldest first
        kind, _, name = line.object.partition("/")
        if kind == "PersistentVolumeClaim":
            latest[name] = line.reason
    waiting = {name for name, reason in latest.items() if reason == WAITING_FOR_FIRST_CONSUMER}
    return waiting - claims_in_use(pods)


def _phase(pvc: dict[str, Any]) -> str:
    return str((pvc.get("status") or {}).get("phase", "Unknown"))


def check_pvcs(listed: dict[str, Any], waiting_for_first_consumer: Collection[str] = frozenset()) -> Iterator[Check]:
    """Bound passes; Pending waiting for its first consumer (a backup volume before the first
    backup) warns; anything else fails."""
    for pvc in _items(listed):
        phase = _phase(pvc)
        name = pvc["metadata"]["name"]
        if phase == "Bound":
            capacity = (pvc.get("status") or {}).get("capacity", {}).get("storage", "")
            yield Check("PVC", name, Status.PASS, f"Bound {capacity}".strip())
        elif phase == "Pending" and name in waiting_for_first_consumer:
            detail = "Pending until a pod first uses it (WaitForFirstConsumer); none does yet"
            yield Check("PVC", name, Status.WARN, detail)
        else:
            yield Check("PVC", name, Status.FAIL, phase)


def _generation(obj: dict[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("generation")


def _condition_summary(conditions: list[dict[str, Any]], wanted: tuple[str, ...], generation: Any) -> str | None:
    """None when every wanted condition is True for the spec's current ``generation``, else what
    is wrong; a condition about an older generation is not counted (see the module docstring)."""
    by_type = {c.get("type"): c for c in conditions}
    wrong = []
    for kind in wanted:
        cond = by_type.get(kind)
        if cond is None:
            wrong.append(f"{kind} not reported")
        elif cond.get("observedGeneration") != generation:
            seen = cond.get("observedGeneration", "none")
            wrong.append(f"{kind} not reconciled (reported for generation {seen}, the spec is generation {generation})")
        elif cond.get("status") != "True":
            wrong.append(f"{kind}={cond.get('status')} {cond.get('reason', '')}: {cond.get('message', '')}")
    return "; ".join(wrong) or None


def _reported(conditions: list[dict[str, Any]], wanted: tuple[str, ...], generation: Any) -> bool:
    by_type = {c.get("type"): c for c in conditions}
    return all((by_type.get(kind) or {}).get("observedGeneration", object()) == generation for kind in wanted)


def reconciled(obj: dict[str, Any]) -> bool:
    """Whether the controllers have reported on a Gateway's or HTTPRoute's current spec, in
    whatever verdict: what deploy waits for before it runs the health check."""
    status = obj.get("status") or {}
    generation = _generation(obj)
    if obj.get("kind") == "HTTPRoute":
        parents = status.get("parents") or []
        return bool(parents) and all(
            _reported(p.get("conditions") or [], ROUTE_CONDITIONS, generation) for p in parents
        )
    return _reported(status.get("conditions") or [], GATEWAY_CONDITIONS, generation)


def check_gateways(listed: dict[str, Any], expected: Iterable[str]) -> Iterator[Check]:
    yield from _missing("Gateway", listed, expected)
    for gw in _items(listed):
        status = gw.get("status") or {}
        problem = _condition_summary(status.get("conditions") or [], GATEWAY_CONDITIONS, _generation(gw))
        addresses = ", ".join(a.get("value", "") for a in status.get("addresses") or [])
        name = gw["metadata"]["name"]
        if problem:
            yield Check("Gateway", name, Status.FAIL, problem)
        else:
            yield Check("Gateway", name, Status.PASS, f"programmed {addresses}".strip())


def check_httproutes(listed: dict[str, Any], expected: Iterable[str]) -> Iterator[Check]:
    yield from _missing("HTTPRoute", listed, expected)
    for route in _items(listed):
        name = route["metadata"]["name"]
        parents = (route.get("status") or {}).get("parents") or []
        if not parents:
            yield Check("HTTPRoute", name, Status.FAIL, "not reconciled: no Gateway has reported on it")
            continue
        problems = []
        for parent in parents:
            problem = _condition_summary(parent.get("conditions") or [], ROUTE_CONDITIONS, _generation(route))
            if problem:
                problems.append(f"{parent.get('parentRef', {}).get('name', '?')}: {problem}")
        if problems:
            yield Check("HTTPRoute", name, Status.FAIL, "; ".join(problems))
        else:
            yield Check("HTTPRoute", name, Status.PASS, f"accepted by {len(parents)} gateway(s)")


def check_nodes(listed: dict[str, Any]) -> Iterator[Check]:
    for node in _items(listed):
        name = node["metadata"]["name"]
        conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        ready = conditions.get("Ready", {})
        if ready.get("status") != "True":
            yield Check("Node", name, Status.FAIL, f"NotReady: {ready.get('message', 'no status')}")
            continue
        pressure = [
            kind
            for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
            if conditions.get(kind, {}).get("status") == "True"
        ]
        if pressure:
            yield Check("Node", name, Status.WARN, "Ready, but " + ", ".join(pressure))
        elif (node.get("spec") or {}).get("unschedulable"):
            yield Check("Node", name, Status.WARN, "Ready, cordoned (SchedulingDisabled)")
        else:
            yield Check("Node", name, Status.PASS, "Ready")


def check_readiness(
    deployments: dict[str, Any],
    pods: dict[str, Any],
    slices: dict[str, Any],
    names: Iterable[str],
    routed: Collection[str],
) -> Iterator[Check]:
    """Readiness as the cluster already knows it, one line per app Deployment.

    The kubelet probes each pod's /readyz and records the answer in the pod's Ready condition;
    the EndpointSlice controller turns that into the Service's ready endpoints; the Deployment's
    status says whether its rollout finished. Reading those needs no network path to the pods
    (the NetworkPolicies allow none from the control plane).

    Args:
        names: the Deployments to judge.
        routed: those whose Service carries traffic, so it needs ready endpoints.
    """
    found = _by_name(deployments)
    endpoints = ready_endpoints(slices)
    for name in names:
        dep = found.get(name)
        if dep is None:
            yield Check("Readiness", name, Status.FAIL, "Deployment not found")
            continue
        state = workloads.deployment_state(dep)
        mine = [p for p in _items(pods) if _labels(p).get(contract.NAME_LABEL) == name]
        ready = sum(1 for p in mine if workloads.pod_ready(p))
        seen = [f"{ready}/{state.desired} pods Ready"]
        if name in routed:
            seen.append(f"{endpoints.get(name, 0)} ready endpoint(s)")
        detail = ", ".join(seen)
        if state.state == "failed":
            yield Check("Readiness", name, Status.FAIL, f"{state.message}; {detail}")
        elif state.desired == 0:
            yield Check("Readiness", name, Status.WARN, "scaled to zero")
        elif ready == 0:
            yield Check("Readiness", name, Status.FAIL, f"no pod is Ready; {detail}")
        elif name in routed and not endpoints.get(name):
            yield Check("Readiness", name, Status.FAIL, f"the Service has no ready endpoint; {detail}")
        elif state.state == "progressing":
            yield Check("Readiness", name, Status.WARN, f"{detail}; {state.message}")
        elif ready < state.desired:
            yield Check("Readiness", name, Status.WARN, detail)
        else:
            yield Check("Readiness", name, Status.PASS, detail)


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def check_pod_readyz(service: str, pod: str, answer: dict[str, Any] | None, error: str | None) -> Check:
    """What one pod's own /readyz said when asked from inside the pod (``kubectl exec``).

    Args:
        answer: ``{"status": HTTP status or None, "body": text}`` printed by the in-pod script.
        error: why the script could not run (kubectl's error), when it could not.
    """
    if error is not None:
        return Check("Readyz", service, Status.WARN, f"{pod}: not asked, {error}")
    if answer is None:
        return Check("Readyz", service, Status.WARN, f"{pod}: the in-pod check printed no answer")
    status, body = answer.get("status"), _summary(str(answer.get("body", "")))
    if status == 200:
        return Check("Readyz", service, Status.PASS, f"{pod}: {body or 'ready'}")
    if status is None:
        return Check("Readyz", service, Status.FAIL, f"{pod}: no answer on its ops port: {body}")
    return Check("Readyz", service, Status.FAIL, f"{pod}: HTTP {status} {body}".rstrip())


def _summary(body: str) -> str:
    """``db ok, redis ok`` of a /readyz body; the text itself when it is not that JSON."""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return " ".join(body.split())[:200]
    checks = parsed.get("checks") if isinstance(parsed, dict) else None
    if isinstance(checks, dict) and checks:
        return ", ".join(f"{name} {state}" for name, state in checks.items())
    return " ".join(body.split())[:200]


def check_pods(pods: dict[str, Any], now: datetime, limits: Thresholds) -> Iterator[Check]:
    """Restarts, broken containers and pods stuck Pending, with the reason kubectl shows."""
    for pod in _items(pods):
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        if status.get("phase") == "Succeeded":
            continue
        problems = workloads.pod_problems(pod)
        broken = [p for p in problems if p.reason in BROKEN_WAITING or p.reason == "Evicted"]
        if broken:
            p = broken[0]
            yield Check("Pod", name, Status.FAIL, _describe(p))
            continue
        if status.get("phase") == "Pending":
            created = workloads.parse_time(pod["metadata"].get("creationTimestamp"))
            waited = now - created if created else timedelta(0)
            reason = problems[0] if problems else None
            detail = f"Pending {workloads.age(pod['metadata'].get('creationTimestamp'), now)}"
            if reason is not None:
                detail += f": {reason.reason} {reason.message}".rstrip()
            yield Check("Pod", name, Status.FAIL if waited > limits.pending_grace else Status.WARN, detail)
            continue
        restarts = sum(int(cs.get("restartCount", 0)) for cs in status.get("containerStatuses") or [])
        if restarts:
            last = _last_termination(status)
            yield Check("Pod", name, Status.WARN, f"{restarts} restart(s){last}")
        elif problems:
            yield Check("Pod", name, Status.WARN, _describe(problems[0]))
        else:
            yield Check("Pod", name, Status.PASS, "running, no restarts")


def _describe(problem: workloads.PodProblem) -> str:
    parts = [problem.reason]
    if problem.container:
        parts.append(f"(container {problem.container})")
    if problem.last_termination:
        parts.append(f"last exit {problem.last_termination}")
    if problem.restarts:
        parts.append(f"{problem.restarts} restart(s)")
    if problem.message:
        parts.append(f"- {problem.message}")
    return " ".join(parts)


def _last_termination(status: dict[str, Any]) -> str:
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("lastState") or {}).get("terminated")
        if term:
            return f", last exit {term.get('reason', '?')} (code {term.get('exitCode', '?')})"
    return ""


def check_certificates(listed: dict[str, Any], now: datetime, limits: Thresholds) -> Iterator[Check]:
    """cert-manager Certificates: Ready, and how long until ``status.notAfter``."""
    for cert in _items(listed):
        name = cert["metadata"]["name"]
        status = cert.get("status") or {}
        not_after = workloads.parse_time(status.get("notAfter"))
        conditions: list[dict[str, Any]] = status.get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), {})
        if not_after is None:
            yield Check("Certificate", name, Status.FAIL, f"not issued: {ready.get('message', 'no status')}")
            continue
        left = not_after - now
        days = left.days
        expiry = f"expires {status['notAfter']} ({days} days)"
        if left <= timedelta(days=limits.cert_fail_days):
            yield Check("Certificate", name, Status.FAIL, expiry)
        elif ready.get("status") != "True":
            yield Check("Certificate", name, Status.FAIL, f"not Ready: {ready.get('message', '')}; {expiry}")
        elif left <= timedelta(days=limits.cert_warn_days):
            yield Check("Certificate", name, Status.WARN, f"{expiry}; renewal is late")
        else:
            yield Check("Certificate", name, Status.PASS, expiry)


def unavailable(category: str, reason: str) -> Check:
    """A check that could not run (CRD not installed, no permission): a warning, but a failure
    for a core list (``CORE_CATEGORIES``), whose health is then unknown."""
    if category in CORE_CATEGORIES:
        return Check(category, "-", Status.FAIL, f"{reason}, so its health is unknown")
    return Check(category, "-", Status.WARN, reason)
