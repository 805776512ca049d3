"""The command surface: help for every option, the service contract, the kubectl runner."""

from __future__ import annotations

import pytest
import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from leadgen.ops import cli, contract
from leadgen.ops.errors import ContextError, KubectlError, KubectlNotFoundError
from leadgen.ops.kubectl import Kubectl, locate

from .conftest import FakeKube, Run

COMMANDS = ("deploy", "validate", "rollback", "scale", "debug", "health-check")


def command(name: str) -> TyperCommand:
    group = typer.main.get_command(cli.app)
    assert isinstance(group, TyperGroup)
    found = group.commands[name]
    assert isinstance(found, TyperCommand)
    return found


class TestHelp:
    def test_group_help(self, run: Run) -> None:
        result = run("--help")
        assert result.exit_code == 0
        for name in COMMANDS:
            assert name in result.stdout
        assert "Exit codes: 0 done" in result.stdout

    @pytest.mark.parametrize("name", COMMANDS)
    def test_every_option_and_argument_is_explained(self, name: str) -> None:
        for param in command(name).params:
            if isinstance(param, TyperOption) and param.name != "help":
                assert param.help and len(param.help) > 10, f"{name} {param.opts} has no help"
            if isinstance(param, TyperArgument):
                assert param.help, f"{name} {param.name} has no help"

    @pytest.mark.parametrize("name", COMMANDS)
    def test_help_runs(self, run: Run, name: str) -> None:
        result = run(name, "--help")
        assert result.exit_code == 0
        assert "--json" in result.stdout

    @pytest.mark.parametrize("name", ("deploy", "rollback", "scale", "debug", "health-check"))
    def test_cluster_options_after_the_command(self, name: str) -> None:
        names = {opt for p in command(name).params for opt in p.opts}
        assert {"--context", "--namespace", "--kubectl", "--verbose"} <= names

    def test_verbose_prints_each_command(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("health-check", "dev", "-v")
        assert "$ " in result.stderr and "get deployments --selector app.kubernetes.io/part-of=leadgen" in result.stderr


class TestContract:
    def test_ports_match_the_target_registry(self) -> None:
        from leadgen.targets.registry import TARGETS

        http = {name: t.http_port for name, t in TARGETS.items() if t.http_port is not None}
        assert http == contract.CONTAINER_PORTS
        assert set(TARGETS) == set(contract.DEPLOYMENTS)

    def test_namespaces(self) -> None:
        assert [e.namespace for e in contract.Environment] == ["leadgen-dev", "leadgen-staging", "leadgen-prod"]
        assert contract.statefulsets(contract.Environment.PROD) == ("redis", "neo4j", "qdrant")


class TestKubectlRunner:
    def test_global_flags_first(self) -> None:
        k = Kubectl("/bin/kubectl", context="c", namespace="ns")
        assert k.command("get", "pods") == ["/bin/kubectl", "--context", "c", "--namespace", "ns", "get", "pods"]
        assert k.command("get", "nodes", namespaced=False) == ["/bin/kubectl", "--context", "c", "get", "nodes"]
        assert k.command("kustomize", "x", cluster=False) == ["/bin/kubectl", "kustomize", "x"]

    def test_locate(self, kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
        assert locate(str(kube.kubectl)) == str(kube.kubectl)
        monkeypatch.setenv("PATH", str(kube.bin))
        assert locate(None) == str(kube.kubectl)
        monkeypatch.setenv("PATH", "/nonexistent")
        with pytest.raises(KubectlNotFoundError):
            locate(None)

    def test_errors_keep_kubectl_stderr(self, kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in kube.env().items():
            monkeypatch.setenv(key, value)
        kube.not_found("get", "deployment", "api", what='deployments.apps "api"')
        k = Kubectl(str(kube.kubectl), namespace="leadgen-dev")
        assert k.get_optional("deployment", "api") is None
        kube.on("get", "deployment", "api", stderr="Error from server (Forbidden): nope\n", exit=1)
        with pytest.raises(KubectlError) as caught:
            k.get_optional("deployment", "api")
        assert caught.value.forbidden and "Forbidden" in caught.value.message

    def test_context_check(self, kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in kube.env().items():
            monkeypatch.setenv(key, value)
        kube.on("config", "get-contexts", stdout="")
        with pytest.raises(ContextError, match=r"known: none"):
            Kubectl(str(kube.kubectl), context="x").ensure_context()
