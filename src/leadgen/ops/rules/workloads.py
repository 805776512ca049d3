"""What state a workload, a Job or a pod is in, from the JSON kubectl prints.

The rollout rules follow what ``kubectl rollout status`` decides (observedGeneration first, then
updated, then available replicas), see
https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

State = Literal["ready", "progressing", "failed"]
JobState = Literal["complete", "running", "failed"]

# Waiting reasons that will not fix themselves: a person has to act.
BROKEN_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# Waiting reasons of a container that is simply starting.
STARTING_WAITING = frozenset({"ContainerCreating", "PodInitializing"})


@dataclass(frozen=True)
class WorkloadState:
    kind: str
    name: str
    state: State
    message: str
    desired: int
    ready: int


@dataclass(frozen=True)
class PodProblem:
    """Why one pod is not serving, as specific as its status allows."""

    pod: str
    container: str | None
    reason: str
    message: str
    restarts: int
    exit_code: int | None = None
    last_termination: str | None = None
    # The container's termination message (terminationMessagePolicy FallbackToLogsOnError puts
    # the last log lines there), usually the actual error.
    last_message: str | None = None

    @property
    def severity(self) -> int:
        """Higher is worse; picks the pod to show when several fail."""
        if self.reason in BROKEN_WAITING or self.reason == "OOMKilled":
            return 4
        if self.reason == "Unschedulable":
            return 3
        if self.reason in ("Error", "Failed", "Evicted"):
            return 3
        if self.reason in ("NotReady", "Pending") or self.reason in STARTING_WAITING:
            return 1 + (self.restarts > 0)
        return 2


@dataclass(frozen=True)
class EventLine:
    last_seen: str
    type: str
    reason: str
    object: str
    message: str
    count: int


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def _observed(obj: dict[str, Any]) -> bool:
    generation = (obj.get("metadata") or {}).get("generation", 0)
    return bool((obj.get("status") or {}).get("observedGeneration", 0) >= generation)


def deployment_state(dep: dict[str, Any]) -> WorkloadState:
    """Ready when every replica runs the newest template and is available."""
    name = dep["metadata"]["name"]
    desired = int((dep.get("spec") or {}).get("replicas", 1))
    status = dep.get("status") or {}
    updated = int(status.get("updatedReplicas", 0))
    total = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))

    def state(s: State, message: str) -> WorkloadState:
        return WorkloadState("Deployment", name, s, message, desired, available)

    progressing = _conditions(dep).get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return state("failed", progressing.get("message") or "exceeded its progress deadline")
    if not _observed(dep):
        return state("progressing", "waiting for the controller to see the new spec")
    if updated < desired:
        return state("progressing", f"{updated} of {desired} replicas updated")
    if total > updated:
        return state("progressing", f"{total - updated} old replicas still terminating")
    if available < updated:
        return state("progressing", f"{available} of {updated} updated replicas available")
    if desired == 0:
        return state("ready", "scaled to zero")
    return state("ready", f"{available}/{desired} available")


def statefulset_state(sts: dict[str, Any]) -> WorkloadState:
    name = sts["metadata"]["name"]
    desired = int((sts.get("spec") or {}).get("replicas", 1))
    status = sts.get("status") or {}
    ready = int(status.get("readyReplicas", 0))
    updated = int(status.get("updatedReplicas", 0))

    def state(s: State, message: str) -> WorkloadState:
        return WorkloadState("StatefulSet", name, s, message, desired, ready)

    if not _observed(sts):
        return state("progressing", "waiting for the controller to see the new spec")
    rolling = (sts.get("spec") or {}).get("updateStrategy", {}).get("type", "RollingUpdate")
    if rolling == "RollingUpdate" and status.get("updateRevision") != status.get("currentRevision"):
        return state("progressing", f"{updated} of {desired} pods on the new revision")
    if ready < desired:
        return state("progressing", f"{ready}/{desired} ready")
    return state("ready", f"{ready}/{desired} ready")


def cnpg_cluster_state(cluster: dict[str, Any]) -> WorkloadState:
    """A CloudNativePG ``Cluster``: Ready condition, instances vs ready instances."""
    name = cluster["metadata"]["name"]
    status = cluster.get("status") or {}
    desired = int((cluster.get("spec") or {}).get("instances", 1))
    ready = int(status.get("readyInstances", 0))
    phase = str(status.get("phase", "unknown"))
    condition = _conditions(cluster).get("Ready", {})
    if condition.get("status") == "True" and ready >= desired:
        return WorkloadState("Cluster", name, "ready", phase, desired, ready)
    if "unrecoverable" in phase.lower() or "invalid" in phase.lower():
        return WorkloadState("Cluster", name, "failed", phase, desired, ready)
    return WorkloadState("Cluster", name, "progressing", f"{phase} ({ready}/{desired})", desired, ready)


def job_state(job: dict[str, Any]) -> tuple[JobState, str]:
    """Complete, failed or still running; Kubernetes 1.31+ adds the *Target/*Met conditions."""
    conditions = _conditions(job)
    for kind in ("Failed", "FailureTarget"):
        cond = conditions.get(kind, {})
        if cond.get("status") == "True":
            return "failed", f"{cond.get('reason', kind)}: {cond.get('message', '')}".strip(": ")
    for kind in ("Complete", "SuccessCriteriaMet"):
        if conditions.get(kind, {}).get("status") == "True":
            return "complete", "completed"
    status = job.get("status") or {}
    failed = int(status.get("failed", 0))
    detail = f"{status.get('active', 0)} running"
    return "running", detail + (f", {failed} failed attempt(s)" if failed else "")


def pod_ready(pod: dict[str, Any]) -> bool:
    """Ready as the kubelet's readiness probe last found it, and not on its way out."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return _conditions(pod).get("Ready", {}).get("status") == "True"


def pod_problems(pod: dict[str, Any]) -> list[PodProblem]:
    """Every reason this pod is not serving; empty when it is ready."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    problems: list[PodProblem] = []
    if status.get("reason") == "Evicted":
        problems.append(PodProblem(name, None, "Evicted", status.get("message", ""), 0))
    scheduled = _conditions(pod).get("PodScheduled", {})
    if scheduled.get("status") == "False":
        reason = scheduled.get("reason") or "Pending"
        problems.append(PodProblem(name, None, reason, scheduled.get("message", ""), 0))
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        problem = _container_problem(name, cs)
        if problem is not None:
            problems.append(problem)
    if not problems and status.get("phase") == "Running":
        ready = _conditions(pod).get("Ready", {})
        if ready.get("status") == "False":
            problems.append(PodProblem(name, None, "NotReady", ready.get("message", ""), 0))
    return problems


def _container_problem(pod: str, cs: dict[str, Any]) -> PodProblem | None:
    container = cs.get("name")
    restarts = int(cs.get("restartCount", 0))
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    last_reason = last.get("reason")
    if "waiting" in state:
        waiting = state["waiting"]
        reason = waiting.get("reason", "Waiting")
        message = waiting.get("message", "")
        if reason in STARTING_WAITING and restarts == 0:
            return PodProblem(pod, container, reason, message, restarts)
        if last_reason == "OOMKilled":
            message = f"{message} (last exit: OOMKilled)".strip()
        return PodProblem(
            pod, container, reason, message, restarts, last.get("exitCode"), last_reason, last.get("message")
        )
    if "terminated" in state:
        term = state["terminated"]
        if term.get("exitCode", 0) != 0:
            return PodProblem(
                pod,
                container,
                term.get("reason", "Error"),
                term.get("message", ""),
                restarts,
                term.get("exitCode"),
                last_reason,
            )
        return None
    if not cs.get("ready", False) and "running" in state:
        return PodProblem(pod, container, "NotReady", "readiness probe failing", restarts)
    return None


def worst_problem(pods: list[dict[str, Any]]) -> PodProblem | None:
    """The one pod problem to show a person first."""
    problems = [p for pod in pods for p in pod_problems(pod)]
    if not problems:
        return None
    return max(problems, key=lambda p: (p.severity, p.restarts))


def stuck_pod(pods: list[dict[str, Any]]) -> PodProblem | None:
    """A problem of these pods that will not fix itself (``BROKEN_WAITING``), if any."""
    stuck = [p for pod in pods for p in pod_problems(pod) if p.reason in BROKEN_WAITING]
    return max(stuck, key=lambda p: p.restarts, default=None)


def events(listed: dict[str, Any], limit: int = 10, *, warnings_first: bool = False) -> list[EventLine]:
    """The last ``limit`` events of a ``kubectl get events -o json`` list, oldest first.

    With ``warnings_first`` the warnings come first (each group oldest first) and are kept over
    newer normal events: what went wrong before the routine noise around it.
    """
    lines: list[tuple[str, EventLine]] = []
    for ev in listed.get("items") or []:
        when = (
            ev.get("lastTimestamp")
            or ev.get("eventTime")
            or ev.get("firstTimestamp")
            or (ev.get("metadata") or {}).get("creationTimestamp")
            or ""
        )
        involved = ev.get("involvedObject") or {}
        obj = f"{involved.get('kind', '?')}/{involved.get('name', '?')}"
        count = int(ev.get("count") or (ev.get("series") or {}).get("count") or 1)
        line = EventLine(
            when,
            ev.get("type", ""),
            ev.get("reason", ""),
            obj,
            ev.get("message", "").strip(),
            count,
        )
        lines.append((when, line))
    lines.sort(key=lambda pair: pair[0])
    ordered = [line for _, line in lines]
    if not warnings_first:
        return ordered[-limit:]
    warnings = [line for line in ordered if line.type == "Warning"][-limit:]
    normal = [line for line in ordered if line.type != "Warning"]
    return warnings + normal[max(0, len(normal) - (limit - len(warnings))) :]


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the API (``2026-11-25T10:00:00Z``)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(created: str | None, now: datetime) -> str:
    """kubectl-style age: 45s, 12m, 3h, 5d."""
    when = parse_time(created)
    if when is None:
        return "?"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
