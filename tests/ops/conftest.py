"""The stand-in cluster: a fake ``kubectl`` first on PATH, and a runner for ``leadgen k8s``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from leadgen.ops import cli, contract, healthcheck
from leadgen.ops.contract import Environment
from leadgen.ops.deploy import Shipped

from . import objects

FAKE = Path(__file__).parent / "fake_kubectl.py"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONTEXT = objects.KUBE_CONTEXT
# The CLI the tests run as: the version of the fixtures' app image, and its newest migration.
SHIPPED = Shipped(objects.APP_TAG, "20261125_0042")


def readyz_answer(status: int | None, body: str) -> str:
    """What the in-pod /readyz script of ``health-check --deep`` prints: one JSON line."""
    return json.dumps({"status": status, "body": body}) + "\n"


READY = readyz_answer(200, '{"status":"ok","checks":{"db":"ok","redis":"ok"}}')


class FakeKube:
    """Rules for the fake kubectl; a rule added later wins over an earlier one."""

    def __init__(self, root: Path) -> None:
        self.scenario = root / "scenario"
        self.scenario.mkdir()
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "kubectl.log"
        self.rules: list[dict[str, Any]] = []
        self.kubectl = self.bin / "kubectl"
        self.kubectl.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S "{FAKE}" "$@"\n')
        self.kubectl.chmod(0o755)
        self._write()

    # --- rules -------------------------------------------------------------------------------

    def on(
        self,
        *args: str,
        contains: tuple[str, ...] = (),
        stdout: str = "",
        json_out: Any = None,
        file: str | None = None,
        stderr: str = "",
        exit: int = 0,
    ) -> FakeKube:
        response: dict[str, Any] = {"stdout": stdout, "stderr": stderr, "exit": exit}
        if json_out is not None:
            response["stdout"] = json.dumps(json_out, indent=4)
        if file is not None:
            response["stdout_file"] = str(objects.FIXTURES / file)
        return self.sequence(*args, contains=contains, responses=[response])

    def sequence(self, *args: str, responses: list[dict[str, Any]], contains: tuple[str, ...] = ()) -> FakeKube:
        self.rules.insert(0, {"args": list(args), "contains": list(contains), "responses": responses})
        self._write()
        return self

    def not_found(self, *args: str, what: str) -> FakeKube:
        return self.on(*args, stderr=f"Error from server (NotFound): {what} not found\n", exit=1)

    def healthy(self, env: Environment = Environment.DEV) -> FakeKube:
        """A cluster where every check passes and every command succeeds."""
        ns = env.namespace
        self.on("config", "current-context", stdout=f"{CONTEXT}\n")
        self.on("config", "get-contexts", stdout=f"{CONTEXT}\nprod-eks\n")
        self.on("kustomize", stdout=objects.rendered(env))
        self.on("get", "namespace", json_out=objects.in_namespace(objects.load("namespace-leadgen-dev.json"), ns))
        self.on("diff", stdout=objects.text("diff-dev.txt"), exit=1)
        self.on("apply", stdout="serverside-applied\n")
        self.on("delete", "job", stdout=f'job.batch "db-migrate" deleted from {ns} namespace\n')
        self.on("get", "job", "db-migrate", json_out=objects.in_namespace(objects.job_complete(), ns))
        self.on("rollout", "status", stdout="successfully rolled out\n")
        self.on("wait", stdout="cluster.postgresql.cnpg.io/postgres condition met\n")
        self.on("exec", stdout=READY)
        self.on("get", "events", json_out=objects.as_list([]))
        self.on("get", "configmap", "leadgen-cluster-settings", json_out=objects.cluster_settings(env))
        # deploy's look for objects the overlay no longer renders: none
        self.on("get", "--selector", contract.PART_OF_SELECTOR, json_out=objects.as_list([]))
        lists = objects.healthy(env)
        resources = {
            "gateways": "gateways.gateway.networking.k8s.io",
            "httproutes": "httproutes.gateway.networking.k8s.io",
            "certificates": "certificates.cert-manager.io",
        }
        for key, value in lists.items():
            self.on("get", resources.get(key, key), json_out=value)
        if env.uses_cnpg:
            cluster = objects.in_namespace(objects.load("cnpg-cluster-postgres.json"), ns)
            self.on("get", "clusters.postgresql.cnpg.io", "postgres", json_out=cluster)
        return self

    def _write(self) -> None:
        (self.scenario / "rules.json").write_text(json.dumps(self.rules, indent=1))

    # --- what ran ----------------------------------------------------------------------------

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[list[str]]:
        """The arguments of each call, global flags removed."""
        return [c["args"] for c in self.calls()]

    def first(self, *prefix: str) -> dict[str, Any]:
        for call in self.calls():
            if call["args"][: len(prefix)] == list(prefix):
                return call
        raise AssertionError(f"kubectl {' '.join(prefix)} was not run; ran {self.commands()}")

    def index(self, *prefix: str) -> int:
        for i, args in enumerate(self.commands()):
            if args[: len(prefix)] == list(prefix):
                return i
        raise AssertionError(f"kubectl {' '.join(prefix)} was not run; ran {self.commands()}")

    def ran(self, *prefix: str) -> bool:
        return any(args[: len(prefix)] == list(prefix) for args in self.commands())

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "FAKE_KUBECTL_SCENARIO": str(self.scenario),
            "FAKE_KUBECTL_LOG": str(self.log),
            "COLUMNS": "240",
            "NO_COLOR": "1",
        }


@pytest.fixture
def kube(tmp_path: Path) -> FakeKube:
    return FakeKube(tmp_path)


@pytest.fixture
def overlays(tmp_path: Path) -> Path:
    """An overlays folder: the fake kubectl renders it, the CLI only checks it exists."""
    root = tmp_path / "k8s" / "overlays"
    for env in Environment:
        (root / env.value).mkdir(parents=True)
    return root


Run = Callable[..., Result]


@pytest.fixture
def run(kube: FakeKube, monkeypatch: pytest.MonkeyPatch, overlays: Path) -> Iterator[Run]:
    """Invoke ``leadgen k8s ARGS`` against the fake cluster, at a fixed time, with no terminal."""
    monkeypatch.setattr(cli, "now", lambda: NOW)
    monkeypatch.setattr(cli, "shipped", lambda: SHIPPED)
    monkeypatch.setattr(healthcheck, "utcnow", lambda: NOW)
    monkeypatch.setattr(cli, "stdin_is_interactive", lambda: False)
    monkeypatch.setenv("LEADGEN_K8S_OVERLAYS", str(overlays))
    monkeypatch.delenv("LEADGEN_K8S_CONTEXT", raising=False)
    monkeypatch.delenv("LEADGEN_KUBECTL", raising=False)

    def invoke(*args: str, input: str | None = None, interactive: bool = False) -> Result:
        if interactive:
            monkeypatch.setattr(cli, "stdin_is_interactive", lambda: True)
        runner = CliRunner()
        return runner.invoke(cli.app, list(args), input=input, env=kube.env(), catch_exceptions=False)

    yield invoke


def payload(result: Result) -> Any:
    """The JSON document a ``--json`` run printed."""
    return json.loads(result.stdout)
