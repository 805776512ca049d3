"""``leadgen k8s debug ENV [ACTION]``: pods, logs, describe, shell, port-forward, top, events.

The ``*_args`` functions build kubectl argument lists and decide nothing else; ``run_debug``
picks the pod and runs them. Interactive actions (``logs --follow``, ``shell``,
``port-forward``) hand the terminal to kubectl.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import KubectlError, UsageError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.namespace import ensure_namespace_cluster
from leadgen.ops.rules import workloads
from leadgen.ops.rules.workloads import EventLine, PodProblem

# Recent log lines shown without --tail, --since or --all.
DEFAULT_TAIL = 200
DEFAULT_DEBUG_IMAGE = "busybox:1.37"
# Our namespaces enforce the restricted Pod Security Standard, so the ephemeral container must
# meet it too (non-root, no capabilities, RuntimeDefault seccomp): kubectl debug --profile.
DEFAULT_DEBUG_PROFILE = "restricted"
# kubectl exec exits 126 (cannot execute) or 127 (not found) when the image has no shell.
NO_SHELL_EXIT_CODES = frozenset({126, 127})


class Action(enum.StrEnum):
    PODS = "pods"
    LOGS = "logs"
    DESCRIBE = "describe"
    SHELL = "shell"
    PORT_FORWARD = "port-forward"
    TOP = "top"
    EVENTS = "events"


INTERACTIVE = frozenset({Action.SHELL, Action.PORT_FORWARD})


@dataclass(frozen=True)
class PodRow:
    name: str
    ready: str
    status: str
    restarts: int
    age: str
    node: str
    service: str


@dataclass(frozen=True)
class LogOptions:
    previous: bool = False
    follow: bool = False
    all_lines: bool = False
    tail: int | None = None
    since: str | None = None


@dataclass
class DebugOptions:
    action: Action
    pod: str | None = None
    service: str | None = None
    selector: str | None = None
    container: str | None = None
    logs: LogOptions = field(default_factory=LogOptions)
    ports: str | None = None
    address: str = "127.0.0.1"
    shell: str = "/bin/sh"
    debug_image: str = DEFAULT_DEBUG_IMAGE
    debug_profile: str = DEFAULT_DEBUG_PROFILE


@dataclass
class DebugResult:
    action: str
    namespace: str
    pod: str | None = None
    command: list[str] | None = None
    exit_code: int = 0
    pods: list[PodRow] | None = None
    lines: list[str] | None = None
    events: list[EventLine] | None = None
    problems: list[PodProblem] | None = None
    top: list[dict[str, str]] | None = None


# --- argument builders (pure) ----------------------------------------------------------------


def selector_of(opts: DebugOptions) -> str:
    if opts.selector:
        return opts.selector
    if opts.service:
        return contract.selector_for(opts.service)
    return contract.PART_OF_SELECTOR


def logs_args(pod: str, container: str | None, opts: LogOptions) -> list[str]:
    return ["logs", pod, *_log_flags(container, opts)]


def selector_logs_args(selector: str, pods: int, container: str | None, opts: LogOptions) -> list[str]:
    """Logs of every pod ``selector`` matches, each line prefixed with its pod and container.

    kubectl follows at most ``--max-log-requests`` pods (default 5), so it is the pod count.
    """
    return ["logs", "--selector", selector, "--prefix", f"--max-log-requests={pods}", *_log_flags(container, opts)]


def _log_flags(container: str | None, opts: LogOptions) -> list[str]:
    args = ["--timestamps"]
    if container:
        args += ["--container", container]
    if opts.previous:
        args.append("--previous")
    if opts.follow:
        args.append("--follow")
    # Always explicit: with a selector, kubectl's own default is the last 10 lines of each pod.
    if opts.all_lines or (opts.tail is None and opts.since):
        args.append("--tail=-1")
    else:
        args.append(f"--tail={DEFAULT_TAIL if opts.tail is None else opts.tail}")
    if opts.since:
        args.append(f"--since={opts.since}")
    return args


def exec_shell_args(pod: str, container: str | None, shell: str) -> list[str]:
    args = ["exec", "-it", pod]
    if container:
        args += ["--container", container]
    return [*args, "--", shell]


def probe_shell_args(pod: str, container: str | None, shell: str) -> list[str]:
    args = ["exec", pod]
    if container:
        args += ["--container", container]
    return [*args, "--", shell, "-c", "exit 0"]


def ephemeral_debug_args(pod: str, container: str, image: str, profile: str) -> list[str]:
    """An ephemeral container sharing the target container's process namespace."""
    return [
        "debug", "-it", pod, f"--image={image}", f"--target={container}",
        f"--profile={profile}", "--", "sh",
    ]  # fmt: skip


def port_forward_args(target: str, local: int, remote: int, opts: DebugOptions) -> list[str]:
    return ["port-forward", target, opts.ports or f"{local}:{remote}", f"--address={opts.address}"]


def port_forward_target(service: str | None, pod: str | None) -> tuple[str, int, int]:
    """What to forward: a Service's HTTP port, else the pod's HTTP (or metrics) port.

    The local port is the container port, so ``frontend`` (Service port 80) needs no root.
    """
    local = contract.CONTAINER_PORTS.get(service or "", contract.METRICS_PORT)
    if pod is None:
        if service not in contract.SERVICE_PORTS:
            raise UsageError(f"{service} has no Service to forward to; pick a pod with --pod")
        return f"service/{service}", local, contract.SERVICE_PORTS[service]
    return f"pod/{pod}", local, local


def top_args(selector: str) -> list[str]:
    return ["top", "pod", "--selector", selector, "--containers"]


def pod_rows(pods: list[dict[str, Any]], now: datetime) -> list[PodRow]:
    rows = []
    for pod in pods:
        meta = pod["metadata"]
        status = pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        ready = sum(1 for cs in statuses if cs.get("ready"))
        total = len((pod.get("spec") or {}).get("containers") or statuses)
        problems = workloads.pod_problems(pod)
        shown = problems[0].reason if problems else status.get("phase", "Unknown")
        rows.append(
            PodRow(
                meta["name"],
                f"{ready}/{total}",
                shown,
                sum(int(cs.get("restartCount", 0)) for cs in statuses),
                workloads.age(meta.get("creationTimestamp"), now),
                (pod.get("spec") or {}).get("nodeName", ""),
                (meta.get("labels") or {}).get(contract.NAME_LABEL, ""),
            )
        )
    return rows


def parse_top(text: str) -> list[dict[str, str]]:
    """``kubectl top pod --containers`` text (POD NAME CPU(cores) MEMORY(bytes)) as rows."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 4:
            rows.append({"pod": parts[0], "container": parts[1], "cpu": parts[2], "memory": parts[3]})
    return rows


def default_pod(pods: list[dict[str, Any]]) -> str:
    """Without a terminal: the pod with the worst problem, else the first by name."""
    worst = workloads.worst_problem(pods)
    if worst is not None:
        return worst.pod
    return sorted(str(p["metadata"]["name"]) for p in pods)[0]


# --- running -----------------------------------------------------------------------------------


Chooser = Callable[[str, list[str]], int]


def run_debug(
    kubectl: Kubectl,
    env: Environment,
    opts: DebugOptions,
    *,
    now: datetime,
    choose: Chooser | None,
    capture: bool,
) -> DebugResult:
    """Run one debug action.

    Args:
        env: whose namespace it is: the context must be the one its settings name.
        choose: asks a person to pick a pod (None: no terminal, pick ``default_pod``).
        capture: collect output into the result (``--json``) instead of streaming it.
    """
    ensure_namespace_cluster(kubectl, env)
    result = DebugResult(opts.action.value, kubectl.namespace or "")
    selector = selector_of(opts)
    if opts.action is Action.PODS:
        result.pods = pod_rows(kubectl.items("pods", selector=selector), now)
        return result
    if opts.action is Action.TOP:
        return _top(kubectl, selector, result, capture)
    if opts.action is Action.PORT_FORWARD and opts.service in contract.SERVICE_PORTS and not opts.pod:
        target, local, remote = port_forward_target(opts.service, None)
        return _passthrough(kubectl, port_forward_args(target, local, remote, opts), result)
    if opts.action is Action.EVENTS and not (opts.pod or opts.service or opts.selector):
        result.events = workloads.events(kubectl.get("events"), limit=50, warnings_first=True)
        return result
    if opts.action is Action.LOGS and not (opts.pod or opts.logs.previous) and (opts.service or opts.selector):
        return _logs_of_every_pod(kubectl, opts, selector, result, capture)
    pod, spec = _pick(kubectl, opts, selector, choose)
    result.pod = pod
    if opts.action is Action.EVENTS:
        listed = kubectl.get("events", field_selector=f"involvedObject.name={pod}")
        result.events = workloads.events(listed, limit=50, warnings_first=True)
        return result
    if opts.action is Action.DESCRIBE:
        result.problems = workloads.pod_problems(spec)
        result.events = workloads.events(kubectl.get("events", field_selector=f"involvedObject.name={pod}"), limit=20)
        if not capture:
            return _passthrough(kubectl, ["describe", "pod", pod], result)
        return result
    if opts.action is Action.LOGS:
        return _logs(kubectl, logs_args(pod, opts.container, opts.logs), result, capture)
    if opts.action is Action.PORT_FORWARD:
        service = (spec["metadata"].get("labels") or {}).get(contract.NAME_LABEL)
        target, local, remote = port_forward_target(service, pod)
        return _passthrough(kubectl, port_forward_args(target, local, remote, opts), result)
    return _shell(kubectl, opts, pod, spec, result)


def _pick(kubectl: Kubectl, opts: DebugOptions, selector: str, choose: Chooser | None) -> tuple[str, dict[str, Any]]:
    if opts.pod:
        pod = kubectl.get_optional("pod", opts.pod)
        if pod is None:
            raise UsageError(f"pod {opts.pod} does not exist in {kubectl.namespace}")
        return opts.pod, pod
    pods = kubectl.items("pods", selector=selector)
    if not pods:
        raise UsageError(f"no pods match {selector} in {kubectl.namespace}")
    by_name = {p["metadata"]["name"]: p for p in pods}
    names = sorted(by_name)
    if len(names) == 1 or choose is None:
        name = names[0] if len(names) == 1 else default_pod(pods)
        return name, by_name[name]
    rows = {r.name: r for r in pod_rows(pods, datetime.now().astimezone())}
    labels = [f"{n}  {rows[n].ready}  {rows[n].status}  restarts={rows[n].restarts}" for n in names]
    name = names[choose("Which pod?", labels)]
    return name, by_name[name]


def _logs_of_every_pod(
    kubectl: Kubectl, opts: DebugOptions, selector: str, result: DebugResult, capture: bool
) -> DebugResult:
    """The logs of every pod of a service (or selector): replicas share the load, so one pod's
    log holds only part of what happened. ``--previous`` instead picks one (crashed) pod, since
    kubectl fails on a pod that has no previous run."""
    pods = kubectl.items("pods", selector=selector)
    if not pods:
        raise UsageError(f"no pods match {selector} in {kubectl.namespace}")
    return _logs(kubectl, selector_logs_args(selector, len(pods), opts.container, opts.logs), result, capture)


def _logs(kubectl: Kubectl, args: list[str], result: DebugResult, capture: bool) -> DebugResult:
    if not capture:
        return _passthrough(kubectl, args, result)
    result.command = args
    result.lines = kubectl.run(*args).stdout.splitlines()
    return result


def _top(kubectl: Kubectl, selector: str, result: DebugResult, capture: bool) -> DebugResult:
    args = top_args(selector)
    if not capture:
        return _passthrough(kubectl, args, result)
    try:
        result.top = parse_top(kubectl.run(*args).stdout)
    except KubectlError as exc:
        raise KubectlError(exc.args_run, exc.returncode, exc.stderr + "\n(is metrics-server installed?)") from exc
    result.command = args
    return result


def _shell(kubectl: Kubectl, opts: DebugOptions, pod: str, spec: dict[str, Any], result: DebugResult) -> DebugResult:
    container = opts.container or _first_container(spec)
    probe = kubectl.run(*probe_shell_args(pod, container, opts.shell), check=False)
    if probe.ok:
        return _passthrough(kubectl, exec_shell_args(pod, container, opts.shell), result)
    if not _no_shell(probe.returncode, probe.stderr):
        raise KubectlError(probe.args, probe.returncode, probe.stderr)
    args = ephemeral_debug_args(pod, container, opts.debug_image, opts.debug_profile)
    return _passthrough(kubectl, args, result)


def _no_shell(returncode: int, stderr: str) -> bool:
    """Whether a failed ``exec SHELL`` means the image has no shell (distroless, scratch)."""
    return returncode in NO_SHELL_EXIT_CODES or any(
        marker in stderr for marker in ("executable file not found", "no such file or directory")
    )


def _first_container(spec: dict[str, Any]) -> str:
    containers = (spec.get("spec") or {}).get("containers") or []
    if not containers:
        raise UsageError("the pod has no containers")
    return str(containers[0]["name"])


def _passthrough(kubectl: Kubectl, args: list[str], result: DebugResult) -> DebugResult:
    result.command = args
    result.exit_code = kubectl.passthrough(*args)
    return result
