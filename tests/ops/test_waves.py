"""The waves deploy applies the workloads in (``leadgen.ops.rules.waves``)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import RuleError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.rules import waves
from leadgen.ops.rules.manifests import Resource, parse, validate_rendered
from leadgen.ops.rules.waves import WORKLOAD_KINDS, Wave
from tests.conftest import IN_CI

from . import objects

REPO = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")


def resources(docs: list[dict[str, Any]]) -> list[Resource]:
    parsed, findings = parse(objects.rendered(Environment.DEV, docs))
    assert not findings
    return parsed


def fixture_workloads(*extra: dict[str, Any]) -> list[Resource]:
    return [r for r in resources(objects.rendered_docs(Environment.DEV) + list(extra)) if r.kind in WORKLOAD_KINDS]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def renamed(doc: dict[str, Any], name: str, app: str) -> dict[str, Any]:
    copy: dict[str, Any] = objects.clone(doc)
    copy["metadata"]["name"] = name
    copy["metadata"]["labels"][contract.NAME_LABEL] = app
    return copy


def refs(grouped: list[tuple[Wave, list[Resource]]]) -> dict[Wave, list[str]]:
    return {wave: [r.ref for r in members] for wave, members in grouped}


class TestTable:
    def test_every_app_deployment_has_a_wave(self) -> None:
        assert set(contract.DEPLOYMENTS) <= set(waves.WAVES)

    def test_every_server_the_frontend_calls_rolls_out_before_it(self) -> None:
        for server in contract.SERVICE_PORTS:
            if server != contract.Service.FRONTEND:
                assert waves.WAVES[server].number < waves.WAVES[contract.Service.FRONTEND].number, server

    def test_waves_are_numbered_in_order(self) -> None:
        assert [w.number for w in Wave] == [1, 2]
        assert list(Wave) == [Wave.BACKENDS, Wave.FRONTEND]

    def test_the_servers_the_frontend_calls_are_the_ones_its_config_names(self) -> None:
        config = (REPO / "k8s" / "base" / "frontend" / "config.env").read_text()
        hosts = re.findall(r"^LEADGEN_SERVICES_\w+_URL=http://([a-z-]+):", config, re.MULTILINE)
        assert set(hosts) == set(waves.FRONTEND_CALLS)


class TestRollbackOrder:
    def test_the_last_wave_goes_back_first(self) -> None:
        order = waves.rollback_order(contract.DEPLOYMENTS)
        assert order[0] == contract.Service.FRONTEND
        assert order[1:] == [d for d in contract.DEPLOYMENTS if d != contract.Service.FRONTEND]

    def test_every_client_goes_back_before_the_servers_it_calls(self) -> None:
        order = waves.rollback_order(reversed(contract.DEPLOYMENTS))
        for server in waves.FRONTEND_CALLS:
            assert order.index(contract.Service.FRONTEND) < order.index(server), server


class TestInWaves:
    def test_backends_first_then_the_frontend_each_in_render_order(self) -> None:
        assert refs(waves.in_waves(fixture_workloads())) == {
            Wave.BACKENDS: [
                "Deployment/api", "Deployment/data-service", "Deployment/orchestrator", "Deployment/backend",
                "Deployment/worker", "Deployment/scheduler", "HorizontalPodAutoscaler/api",
                "HorizontalPodAutoscaler/data-service", "HorizontalPodAutoscaler/orchestrator",
                "HorizontalPodAutoscaler/backend",
            ],
            Wave.FRONTEND: ["Deployment/frontend"],
        }  # fmt: skip

    def test_an_hpa_goes_with_the_deployment_it_scales_whatever_its_own_labels(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        hpa = renamed(find(docs, "HorizontalPodAutoscaler", "api"), "web-autoscaler", "autoscaling")
        hpa["spec"]["scaleTargetRef"]["name"] = "frontend"
        grouped = refs(waves.in_waves(fixture_workloads(hpa)))
        assert grouped[Wave.FRONTEND] == ["Deployment/frontend", "HorizontalPodAutoscaler/web-autoscaler"]

    def test_a_workload_goes_by_its_app_label(self) -> None:
        """A canary Deployment of the api (docs/KUBERNETES_DEPLOYMENT.md) rolls with the api."""
        canary = renamed(find(objects.rendered_docs(Environment.DEV), "Deployment", "api"), "api-canary", "api")
        assert "Deployment/api-canary" in refs(waves.in_waves(fixture_workloads(canary)))[Wave.BACKENDS]

    def test_the_backup_cronjob_goes_first(self) -> None:
        cron = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "postgres-backup", "labels": {contract.NAME_LABEL: "postgres-backup"}},
        }
        assert "CronJob/postgres-backup" in refs(waves.in_waves(fixture_workloads(cron)))[Wave.BACKENDS]

    def test_a_workload_of_no_known_app_is_refused(self) -> None:
        reports = renamed(find(objects.rendered_docs(Environment.DEV), "Deployment", "api"), "reports", "reports")
        workloads = fixture_workloads(reports)
        assert [r.ref for r in waves.unassigned(workloads)] == ["Deployment/reports"]
        with pytest.raises(RuleError, match="Deployment/reports in no rollout wave"):
            waves.in_waves(workloads)

    def test_validation_names_the_table(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        docs.append(renamed(find(docs, "Deployment", "api"), "reports", "reports"))
        report = validate_rendered(objects.rendered(Environment.DEV, docs), Environment.DEV)
        assert [(f.severity, f.resource) for f in report.errors] == [("error", "Deployment/reports")]
        assert "add app.kubernetes.io/name reports to WAVES in src/leadgen/ops/rules/waves.py" in (
            report.errors[0].message
        )


# Under CI=true a missing kubectl fails these tests instead of skipping them.
@pytest.mark.skipif(
    KUBECTL is None and not IN_CI, reason="kubectl is not installed (its kustomize renders the overlays)"
)
@pytest.mark.parametrize("env", list(Environment))
def test_every_workload_of_every_overlay_is_in_exactly_one_wave(env: Environment) -> None:
    assert KUBECTL is not None, "kubectl is required under CI=true"
    overlay = REPO / "k8s" / "overlays" / env.value
    rendered, findings = parse(Kubectl(KUBECTL).kustomize(overlay))
    assert not findings
    workloads = [r for r in rendered if r.kind in WORKLOAD_KINDS]
    assert not waves.unassigned(workloads)
    grouped = waves.in_waves(workloads)
    placed = [r.ref for _, members in grouped for r in members]
    assert sorted(placed) == sorted(r.ref for r in workloads)  # each once, none left out
    wave_of = {r.ref: wave for wave, members in grouped for r in members}
    assert wave_of["Deployment/frontend"] is Wave.FRONTEND
    for backend in ("api", "data-service", "orchestrator", "backend"):
        assert wave_of[f"Deployment/{backend}"] is Wave.BACKENDS
    for hpa in (r for r in workloads if r.kind == "HorizontalPodAutoscaler"):
        assert wave_of[hpa.ref] is wave_of[f"Deployment/{hpa.body['spec']['scaleTargetRef']['name']}"]
