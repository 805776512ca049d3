"""Collect the evidence for a failed rollout or Job: the failing pod, its reason, events, logs.

Best effort: a failure while diagnosing never hides the failure being diagnosed.
"""

from __future__ import annotations

from leadgen.ops.errors import KubectlError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.report import Failure
from leadgen.ops.rules import workloads

EVENT_LIMIT = 10
LOG_LINES = 20


def diagnose(kubectl: Kubectl, resource: str, selector: str, message: str) -> Failure:
    """Explain why ``resource`` (``deployment/api``) failed, from its pods' status and events.

    Args:
        kubectl: bound to the namespace of the resource.
        resource: ``kind/name`` of what failed, shown first.
        selector: label selector of its pods.
        message: what the failing step said (kubectl's error or our own).
    """
    try:
        pods = kubectl.items("pods", selector=selector)
    except KubectlError:
        pods = []
    problem = workloads.worst_problem(pods)
    try:
        if problem is not None:
            listed = kubectl.get("events", field_selector=f"involvedObject.name={problem.pod}")
        else:
            # No pod to blame: the controller could not create one (quota, admission, scheduling
            # of the ReplicaSet). Its warnings are the namespace's warning events.
            listed = kubectl.get("events", field_selector="type=Warning")
        events = tuple(workloads.events(listed, EVENT_LIMIT))
    except KubectlError:
        events = ()
    return Failure(resource, message, problem, events, _logs(kubectl, problem))


def _logs(kubectl: Kubectl, problem: workloads.PodProblem | None) -> tuple[str, ...]:
    """The last log lines of the failing container; of its previous run if it restarted."""
    if problem is None or problem.container is None:
        return ()
    if problem.reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "Unschedulable"):
        return ()  # never started: no logs
    args = ["logs", problem.pod, "--container", problem.container, f"--tail={LOG_LINES}"]
    if problem.restarts > 0:
        args.append("--previous")
    done = kubectl.run(*args, check=False)
    return tuple(done.stdout.splitlines()) if done.ok else ()
