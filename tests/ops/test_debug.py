"""``leadgen k8s debug``: the kubectl invocations each action builds, and pod selection."""

from __future__ import annotations

from datetime import UTC, datetime

from leadgen.ops import contract, debug
from leadgen.ops.debug import DebugOptions, LogOptions

from . import objects
from .conftest import FakeKube, Run, payload

API_SELECTOR = contract.selector_for("api")
CRASHING_POD = "api-5f8d7c9b4-7wzlm"
HEALTHY_POD = "api-7d9c6b8f5d-x2kqp"


def api_pods(kube: FakeKube) -> FakeKube:
    kube.healthy()
    pods = objects.as_list([objects.pod("api"), objects.load("pod-api-crashloop.json")])
    kube.on("get", "pods", "--selector", API_SELECTOR, json_out=pods)
    kube.on("get", "pod", HEALTHY_POD, json_out=objects.pod("api"))
    kube.on("get", "pod", CRASHING_POD, file="pod-api-crashloop.json")
    kube.on("get", "events", "--field-selector", f"involvedObject.name={CRASHING_POD}",
            file="events-api-crashloop.json")  # fmt: skip
    kube.on("logs", stdout="2026-11-25T11:51:01Z line one\n2026-11-25T11:51:02Z line two\n")
    kube.on("describe", stdout="Name: x\n")
    kube.on("exec", stdout="")
    kube.on("debug", stdout="")
    kube.on("port-forward", stdout="Forwarding from 127.0.0.1:3000 -> 3000\n")
    kube.on("top", file="top-pods-api.txt")
    return kube


class TestArguments:
    """The pure builders: exactly the kubectl command each option means."""

    def test_logs(self) -> None:
        assert debug.logs_args("p", None, LogOptions()) == ["logs", "p", "--timestamps", "--tail=200"]
        assert debug.logs_args("p", "api", LogOptions(previous=True, tail=50)) == [
            "logs", "p", "--timestamps", "--container", "api", "--previous", "--tail=50",
        ]  # fmt: skip
        assert debug.logs_args("p", None, LogOptions(follow=True, all_lines=True, since="1h")) == [
            "logs", "p", "--timestamps", "--follow", "--tail=-1", "--since=1h",
        ]  # fmt: skip

    def test_since_reads_its_whole_window_unless_a_tail_is_given(self) -> None:
        assert debug.logs_args("p", None, LogOptions(since="30m")) == [
            "logs",
            "p",
            "--timestamps",
            "--tail=-1",
            "--since=30m",
        ]
        assert debug.logs_args("p", None, LogOptions(since="30m", tail=50))[-2:] == ["--tail=50", "--since=30m"]

    def test_logs_of_every_pod_of_a_selector(self) -> None:
        assert debug.selector_logs_args("a=b", 3, None, LogOptions()) == [
            "logs", "--selector", "a=b", "--prefix", "--max-log-requests=3", "--timestamps", "--tail=200",
        ]  # fmt: skip

    def test_shell_and_ephemeral_container(self) -> None:
        assert debug.exec_shell_args("p", "api", "/bin/sh") == [
            "exec",
            "-it",
            "p",
            "--container",
            "api",
            "--",
            "/bin/sh",
        ]
        assert debug.ephemeral_debug_args("p", "api", "busybox:1.37", "restricted") == [
            "debug", "-it", "p", "--image=busybox:1.37", "--target=api", "--profile=restricted", "--", "sh",
        ]  # fmt: skip

    def test_port_forward_targets(self) -> None:
        assert debug.port_forward_target("frontend", None) == ("service/frontend", 8080, 80)
        assert debug.port_forward_target("api", None) == ("service/api", 3000, 3000)
        assert debug.port_forward_target("worker", "worker-1") == ("pod/worker-1", 9090, 9090)
        assert debug.port_forward_target("api", "api-1") == ("pod/api-1", 3000, 3000)
        opts = DebugOptions(debug.Action.PORT_FORWARD, ports="18080:80", address="0.0.0.0")
        assert debug.port_forward_args("service/frontend", 8080, 80, opts) == [
            "port-forward", "service/frontend", "18080:80", "--address=0.0.0.0",
        ]  # fmt: skip

    def test_top(self) -> None:
        assert debug.top_args("a=b") == ["top", "pod", "--selector", "a=b", "--containers"]
        assert debug.parse_top(objects.text("top-pods-api.txt")) == [
            {"pod": "api-7d9c6b8f5d-b7mfs", "container": "api", "cpu": "12m", "memory": "118Mi"},
            {"pod": "api-7d9c6b8f5d-x2kqp", "container": "api", "cpu": "9m", "memory": "121Mi"},
        ]

    def test_default_pod_is_the_broken_one(self) -> None:
        pods = [objects.pod("api"), objects.load("pod-api-crashloop.json")]
        assert debug.default_pod(pods) == CRASHING_POD
        assert debug.default_pod([objects.pod("api", "b"), objects.pod("api", "a")]) == "api-7d9c6b8f5d-a"

    def test_pod_rows(self) -> None:
        now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        rows = debug.pod_rows([objects.load("pod-api-crashloop.json")], now)
        assert rows == [
            debug.PodRow(CRASHING_POD, "0/1", "CrashLoopBackOff", 7, "17m", "ip-10-0-12-34.ec2.internal", "api")
        ]


class TestActions:
    def test_pods_table(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        result = run("debug", "dev", "pods", "--service", "api")
        assert result.exit_code == 0
        assert CRASHING_POD in result.stdout and "CrashLoopBackOff" in result.stdout
        assert kube.first("get", "pods")["args"][3] == API_SELECTOR

    def test_no_action_without_terminal_lists_pods(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        doc = payload(run("debug", "dev", "--service", "api", "--json"))
        assert doc["action"] == "pods"
        assert [p["status"] for p in doc["pods"]] == ["Running", "CrashLoopBackOff"]

    def test_menu_on_a_terminal(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        result = run("debug", "dev", "--service", "api", input="7\n1\n", interactive=True)  # events
        assert result.exit_code == 0
        assert "What do you want to see?" in result.stderr
        assert "Which pod?" in result.stderr

    def test_logs_of_every_pod_of_the_service(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        assert run("debug", "dev", "logs", "--service", "api").exit_code == 0
        assert kube.first("logs")["args"] == [
            "logs", "--selector", API_SELECTOR, "--prefix", "--max-log-requests=2", "--timestamps", "--tail=200",
        ]  # fmt: skip

    def test_every_pod_for_the_whole_since_window(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        pods = objects.as_list([objects.pod("orchestrator", s) for s in ("aaaaa", "bbbbb", "ccccc")])
        kube.on("get", "pods", json_out=pods)
        doc = payload(run("debug", "prod", "logs", "--service", "orchestrator", "--since", "30m", "--json"))
        [logs] = [c for c in kube.commands() if c[0] == "logs"]
        assert logs == [
            "logs", "--selector", contract.selector_for("orchestrator"), "--prefix", "--max-log-requests=3",
            "--timestamps", "--tail=-1", "--since=30m",
        ]  # fmt: skip
        assert doc["command"] == logs and doc["pod"] is None
        assert doc["lines"] == ["2026-11-25T11:51:01Z line one", "2026-11-25T11:51:02Z line two"]

    def test_follows_every_pod_of_a_selector(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        assert run("debug", "dev", "logs", "-l", API_SELECTOR, "--follow", "-c", "api").exit_code == 0
        assert kube.first("logs")["args"] == [
            "logs", "--selector", API_SELECTOR, "--prefix", "--max-log-requests=2", "--timestamps",
            "--container", "api", "--follow", "--tail=200",
        ]  # fmt: skip

    def test_logs_of_a_service_without_pods(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        kube.on("get", "pods", json_out=objects.as_list([]))
        result = run("debug", "dev", "logs", "--service", "api")
        assert result.exit_code == 2
        assert f"no pods match {API_SELECTOR}" in result.stderr
        assert not kube.ran("logs")

    def test_previous_and_follow(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        run("debug", "dev", "logs", "-s", "api", "--previous", "--follow", "-c", "api")
        assert kube.first("logs")["args"] == [
            "logs", CRASHING_POD, "--timestamps", "--container", "api", "--previous", "--follow", "--tail=200",
        ]  # fmt: skip

    def test_all_logs_of_a_named_pod(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        run("debug", "dev", "logs", "--pod", HEALTHY_POD, "--all")
        assert kube.first("logs")["args"] == ["logs", HEALTHY_POD, "--timestamps", "--tail=-1"]

    def test_logs_as_json(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        doc = payload(run("debug", "dev", "logs", "--pod", HEALTHY_POD, "--json"))
        assert doc["pod"] == HEALTHY_POD
        assert doc["lines"] == ["2026-11-25T11:51:01Z line one", "2026-11-25T11:51:02Z line two"]

    def test_interactive_pick(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        result = run("debug", "dev", "logs", "-s", "api", "--previous", input="2\n", interactive=True)
        assert result.exit_code == 0
        assert f"2) {HEALTHY_POD}" in result.stderr
        assert kube.first("logs")["args"][1] == HEALTHY_POD

    def test_shell_when_the_image_has_one(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        assert run("debug", "dev", "shell", "--pod", HEALTHY_POD).exit_code == 0
        probe, shell = [c for c in kube.commands() if c[0] == "exec"]
        assert probe == ["exec", HEALTHY_POD, "--container", "api", "--", "/bin/sh", "-c", "exit 0"]
        assert shell == ["exec", "-it", HEALTHY_POD, "--container", "api", "--", "/bin/sh"]
        assert not kube.ran("debug")

    def test_ephemeral_container_when_there_is_no_shell(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        kube.on("exec", exit=1, stderr=(
            "error: Internal error occurred: error executing command in container: failed to exec in "
            'container: failed to start exec "1b2c": OCI runtime exec failed: exec failed: unable to '
            'start container process: exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown\n'
        ))  # fmt: skip
        result = run("debug", "dev", "shell", "--pod", HEALTHY_POD, "--debug-image", "busybox:1.37.0")
        assert result.exit_code == 0
        assert kube.first("debug")["args"] == [
            "debug", "-it", HEALTHY_POD, "--image=busybox:1.37.0", "--target=api", "--profile=restricted", "--", "sh",
        ]  # fmt: skip

    def test_shell_other_errors_are_reported(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        kube.on(
            "exec",
            exit=1,
            stderr='Error from server (Forbidden): pods "x" is forbidden: cannot create resource "pods/exec"\n',
        )
        result = run("debug", "dev", "shell", "--pod", HEALTHY_POD)
        assert result.exit_code == 1
        assert "Forbidden" in result.stderr and "operator role" in result.stderr
        assert not kube.ran("debug")

    def test_port_forward_service(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        run("debug", "dev", "port-forward", "--service", "frontend")
        assert kube.first("port-forward")["args"] == [
            "port-forward", "service/frontend", "8080:80", "--address=127.0.0.1",
        ]  # fmt: skip
        assert not kube.ran("get", "pods")

    def test_port_forward_worker_pod_metrics(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        worker = objects.pod("worker")
        kube.on("get", "pods", "--selector", contract.selector_for("worker"), json_out=objects.as_list([worker]))
        run("debug", "dev", "port-forward", "-s", "worker")
        assert kube.first("port-forward")["args"][1:3] == [f"pod/{worker['metadata']['name']}", "9090:9090"]

    def test_top(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        doc = payload(run("debug", "dev", "top", "-s", "api", "--json"))
        assert kube.first("top")["args"] == ["top", "pod", "--selector", API_SELECTOR, "--containers"]
        assert doc["top"][0]["memory"] == "118Mi"

    def test_top_without_metrics_server(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        kube.on("top", stderr="error: Metrics API not available\n", exit=1)
        result = run("debug", "dev", "top", "--json")
        assert result.exit_code == 1
        assert "metrics-server" in payload(result)["error"]

    def test_events_of_a_pod(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        result = run("debug", "dev", "events", "--pod", CRASHING_POD)
        assert result.exit_code == 0
        assert "BackOff" in result.stdout and "Back-off restarting failed container api" in result.stdout
        assert result.stdout.index("BackOff") < result.stdout.index("Scheduled")  # warnings first

    def test_events_of_the_namespace(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        kube.on("get", "events", file="events-api-crashloop.json")
        doc = payload(run("debug", "dev", "events", "--json"))
        assert kube.first("get", "events")["args"] == ["get", "events", "-o", "json"]
        assert [(e["type"], e["reason"]) for e in doc["events"]] == [
            ("Warning", "BackOff"), ("Normal", "Scheduled"), ("Normal", "Started"),
        ]  # fmt: skip
        out = run("debug", "dev", "events").stdout
        assert out.index("BackOff") < out.index("Scheduled")

    def test_describe(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        run("debug", "dev", "describe", "--pod", CRASHING_POD)
        assert kube.first("describe")["args"] == ["describe", "pod", CRASHING_POD]

    def test_describe_as_json_has_the_diagnosis(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        doc = payload(run("debug", "dev", "describe", "--pod", CRASHING_POD, "--json"))
        assert doc["problems"][0]["reason"] == "CrashLoopBackOff"
        assert not kube.ran("describe")


class TestRefusals:
    def test_json_with_an_interactive_action(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        result = run("debug", "dev", "shell", "--json")
        assert result.exit_code == 2
        assert payload(result)["error"] == "--json cannot be used with shell."
        assert not kube.ran("exec")

    def test_no_matching_pods(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        kube.on("get", "pods", "--selector", "app=nothing", json_out=objects.as_list([]))
        result = run("debug", "dev", "logs", "-l", "app=nothing")
        assert result.exit_code == 2
        assert "no pods match app=nothing in leadgen-dev" in result.stderr

    def test_unknown_pod(self, run: Run, kube: FakeKube) -> None:
        api_pods(kube)
        kube.not_found("get", "pod", "ghost", what='pods "ghost"')
        result = run("debug", "dev", "logs", "--pod", "ghost")
        assert result.exit_code == 2
        assert "pod ghost does not exist" in result.stderr
