"""``leadgen k8s scale``: HPA bounds, confirmation, what is changed."""

from __future__ import annotations

import json

from leadgen.ops.contract import Environment

from . import objects
from .conftest import FakeKube, Run, payload


def cluster(kube: FakeKube, env: Environment = Environment.DEV) -> FakeKube:
    kube.healthy(env)
    kube.not_found("get", "horizontalpodautoscaler", what='horizontalpodautoscalers.autoscaling "x"')
    kube.on("get", "deployment", "api", file="deployment-api.json")
    kube.on("get", "deployment", "worker", json_out=objects.deployment("worker"))
    kube.on("get", "deployment", "scheduler", json_out=objects.deployment("scheduler", 1))
    kube.on("get", "horizontalpodautoscaler", "api", file="hpa-api.json")
    kube.not_found("get", "horizontalpodautoscaler", "worker",
                   what='horizontalpodautoscalers.autoscaling "worker"')  # fmt: skip
    kube.on("scale", stdout="deployment.apps/x scaled\n")
    kube.on("patch", stdout="horizontalpodautoscaler.autoscaling/api patched\n")
    return kube


class TestWithoutHpa:
    def test_scales_with_yes(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "worker", "4", "--yes")
        assert result.exit_code == 0, result.output
        assert ["scale", "deployment/worker", "--replicas=4"] in kube.commands()
        assert "deployment/worker: 2 →" in result.stdout

    def test_asks_on_a_terminal(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "worker", "4", input="y\n", interactive=True)
        assert result.exit_code == 0
        assert "Scale deployment/worker in leadgen-dev from 2 to 4?" in result.stderr
        assert kube.ran("scale")

    def test_no_answer_no_change(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "worker", "4", input="n\n", interactive=True)
        assert result.exit_code == 2
        assert "Scale cancelled" in result.stderr
        assert not kube.ran("scale")

    def test_needs_yes_without_a_terminal(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "worker", "4")
        assert result.exit_code == 2
        assert "pass --yes" in result.stderr
        assert not kube.ran("scale")

    def test_hpa_flag_needs_an_hpa(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "worker", "4", "--hpa", "--yes")
        assert result.exit_code == 2
        assert "worker has no HorizontalPodAutoscaler" in result.stderr


class TestWithHpa:
    def test_warns_that_the_hpa_overrides(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "api", "5", "--yes")
        assert result.exit_code == 0
        assert "HPA api manages the replica count within [2, 10]" in result.stdout
        assert ["scale", "deployment/api", "--replicas=5"] in kube.commands()
        assert "HPA api" in result.stdout and "cpu: 23% / 70%" in result.stdout

    def test_warns_outside_the_bounds(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        doc = payload(run("scale", "dev", "api", "12", "--yes", "--json"))
        assert doc["plan"]["warnings"] == [
            "12 is outside the HPA bounds [2, 10]: the HPA will move it back within seconds"
        ]
        assert doc["action"] == "scale-deployment"
        assert doc["plan"]["suggested_min"] == 12 and doc["plan"]["suggested_max"] == 12
        assert doc["hpa_after"]["min_replicas"] == 2

    def test_changes_the_hpa_bounds_instead(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "api", "12", "--hpa", "--yes")
        assert result.exit_code == 0
        patch = kube.first("patch")["args"]
        assert patch[:4] == ["patch", "horizontalpodautoscaler", "api", "--type=merge"]
        assert "--field-manager=leadgen-scale" in patch
        assert json.loads(patch[-1]) == {"spec": {"minReplicas": 12, "maxReplicas": 12}}
        assert not kube.ran("scale")

    def test_offers_the_hpa_change_on_a_terminal(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "api", "4", input="y\n", interactive=True)
        assert result.exit_code == 0
        assert "Change the HPA bounds to [4, 10] instead" in result.stderr
        assert json.loads(kube.first("patch")["args"][-1]) == {"spec": {"minReplicas": 4, "maxReplicas": 10}}

    def test_scale_anyway_on_a_terminal(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "api", "4", input="n\ny\n", interactive=True)
        assert result.exit_code == 0
        assert "from 2 to 4 anyway?" in result.stderr
        assert kube.ran("scale", "deployment/api", "--replicas=4") and not kube.ran("patch")


class TestRefused:
    def test_scheduler_runs_exactly_one(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "scheduler", "2", "--yes")
        assert result.exit_code == 2
        assert "scheduler must run exactly 1 replica" in result.stderr
        assert not kube.ran("scale")

    def test_negative_count_is_a_usage_error(self, run: Run, kube: FakeKube) -> None:
        result = run("scale", "dev", "api", "-1", "--yes")
        assert result.exit_code == 2
        assert kube.commands() == []

    def test_unknown_service(self, run: Run, kube: FakeKube) -> None:
        result = run("scale", "dev", "billing", "2", "--yes")
        assert result.exit_code == 2
        assert kube.commands() == []

    def test_hpa_cannot_hold_zero(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "api", "0", "--yes", "--json")
        assert result.exit_code == 2
        assert "an HPA cannot keep a Deployment at 0" in payload(result)["error"]


def patched(kube: FakeKube) -> dict[str, object]:
    bounds: dict[str, object] = json.loads(kube.first("patch")["args"][-1])
    return bounds


class TestProd:
    def test_yes_is_not_enough(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        result = run("scale", "prod", "api", "5", "--hpa", "-y")
        assert result.exit_code == 2
        assert "--yes-i-mean-prod" in result.stderr
        assert not kube.ran("patch") and not kube.ran("scale")

    def test_typed_confirmation(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        result = run("scale", "prod", "api", "5", "--hpa", "-y", input="prod\n", interactive=True)
        assert result.exit_code == 0, result.output
        assert "In leadgen-prod: set HPA api bounds to [5, 10]. Type 'prod' to continue" in result.stderr
        assert patched(kube) == {"spec": {"minReplicas": 5, "maxReplicas": 10}}
        assert kube.first("patch")["namespace"] == "leadgen-prod"

    def test_wrong_answer_changes_nothing(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        result = run("scale", "prod", "worker", "4", "-y", input="yes\n", interactive=True)
        assert result.exit_code == 2
        assert "Scale cancelled; nothing was changed." in result.stderr
        assert not kube.ran("scale")

    def test_flag(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        assert run("scale", "prod", "worker", "4", "-y", "--yes-i-mean-prod").exit_code == 0
        assert kube.ran("scale", "deployment/worker", "--replicas=4")

    def test_other_environments_ask_no_typed_confirmation(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.STAGING)
        assert run("scale", "staging", "api", "3", "--hpa", "-y").exit_code == 0
        assert patched(kube) == {"spec": {"minReplicas": 3, "maxReplicas": 10}}


class TestFloor:
    def test_hpa_minimum_below_the_prod_floor_is_refused(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        result = run("scale", "prod", "api", "1", "--hpa", "-y", "--yes-i-mean-prod")
        assert result.exit_code == 2
        assert "--hpa: minReplicas 1 is below prod's floor of 3." in result.stderr
        assert "PodDisruptionBudgets" in result.stderr
        assert not kube.ran("patch")

    def test_staging_floor_keeps_a_pod_evictable_under_its_pdb(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.STAGING)
        result = run("scale", "staging", "api", "1", "--hpa", "-y", "--json")
        assert result.exit_code == 2
        assert "below staging's floor of 2" in payload(result)["error"]

    def test_at_the_floor_is_allowed(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        assert run("scale", "prod", "api", "3", "--hpa", "-y", "--yes-i-mean-prod").exit_code == 0
        assert patched(kube) == {"spec": {"minReplicas": 3, "maxReplicas": 10}}

    def test_dev_has_no_pdb_to_protect(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        assert run("scale", "dev", "api", "1", "--hpa", "-y").exit_code == 0
        assert patched(kube) == {"spec": {"minReplicas": 1, "maxReplicas": 10}}

    def test_below_the_floor_the_hpa_change_is_not_offered(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        result = run("scale", "prod", "api", "1", input="y\nprod\n", interactive=True)
        assert result.exit_code == 0, result.output
        assert "Change the HPA bounds" not in result.stderr  # a lasting 1 is not on offer
        assert "from 2 to 1 anyway?" in result.stderr
        assert kube.ran("scale", "deployment/api", "--replicas=1") and not kube.ran("patch")
