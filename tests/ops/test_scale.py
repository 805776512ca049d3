"""``leadgen k8s scale``: HPA bounds, confirmation, what is changed."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from leadgen.ops.contract import Environment
from leadgen.ops.rules import connections
from tests.conftest import IN_CI

from . import objects
from .conftest import FakeKube, Run, payload

COMMON = "leadgen-common-7g2f9k5h4t"  # ConfigMaps as kustomize names them (hash suffix)
POSTGRES_CONFIG = "postgres-config-b8m5c2d7kh"
# The database clients of the stand-in cluster and their HPA maxima (None: no HPA, replicas 2), as
# `cluster` serves them: the api's HPA is hpa-api.json's ([2, 10]); the worker has none.
MAXIMA: dict[str, int | None] = {"api": 10, "data-service": None, "orchestrator": None, "backend": None, "worker": None}


def app(name: str, replicas: int = 2) -> dict[str, Any]:
    """The Deployment that runs ``leadgen serve --target NAME``, with the common ConfigMap."""
    dep = objects.deployment(name, replicas)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["serve", "--target", name]
    container["envFrom"] = [{"configMapRef": {"name": COMMON}}]
    return dep


def autoscaler(name: str, maximum: int) -> dict[str, Any]:
    hpa = objects.load("hpa-api.json")
    hpa["metadata"]["name"] = name
    hpa["spec"]["scaleTargetRef"]["name"] = name
    hpa["spec"]["maxReplicas"] = maximum
    return hpa


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def database(kube: FakeKube, env: Environment, *, max_connections: int = 400, pool: int = 5) -> FakeKube:
    """What the connection budget reads: Deployments, HPAs, ConfigMaps and the PostgreSQL server
    (a StatefulSet with its config file, in prod a CloudNativePG Cluster). With these numbers the
    stand-in dev cluster's worst case is 277 connections of 395."""
    ns = env.namespace
    deployments = [app(name) for name in MAXIMA] + [app("frontend"), app("scheduler", replicas=1)]
    hpas = [autoscaler(name, maximum) for name, maximum in MAXIMA.items() if maximum is not None]
    conf = "port = 5432\nmax_connections = 100  # the arguments win\nsuperuser_reserved_connections = 5\n"
    maps = [
        config_map(COMMON, {"LEADGEN_DB_POOL_SIZE": str(pool), "LEADGEN_DB_MAX_OVERFLOW": "0"}),
        config_map(POSTGRES_CONFIG, {"postgresql.conf": conf}),
    ]
    kube.on("get", "deployments", json_out=objects.in_namespace(objects.as_list(deployments), ns))
    kube.on("get", "horizontalpodautoscalers", json_out=objects.in_namespace(objects.as_list(hpas), ns))
    kube.on("get", "configmaps", json_out=objects.in_namespace(objects.as_list(maps), ns))
    if env.uses_cnpg:
        server = objects.load("cnpg-cluster-postgres.json")
        server["spec"]["postgresql"] = {"parameters": {"max_connections": str(max_connections)}}
        kube.on("get", "clusters.postgresql.cnpg.io", "postgres", json_out=objects.in_namespace(server, ns))
    else:
        sts = objects.statefulset("postgres")
        pod = sts["spec"]["template"]["spec"]
        pod["containers"][0].update(
            name="postgres",
            args=[
                "postgres",
                "-c",
                "config_file=/etc/postgresql/postgresql.conf",
                "-c",
                f"max_connections={max_connections}",
            ],
        )
        pod["volumes"] = [{"name": "config", "configMap": {"name": POSTGRES_CONFIG}}]
        kube.on("get", "statefulset", "postgres", json_out=objects.in_namespace(sts, ns))
    return kube


def cluster(kube: FakeKube, env: Environment = Environment.DEV) -> FakeKube:
    kube.healthy(env)
    database(kube, env)
    kube.not_found("get", "horizontalpodautoscaler", what='horizontalpodautoscalers.autoscaling "x"')
    kube.on("get", "deployment", "api", file="deployment-api.json")
    kube.on("get", "deployment", "worker", json_out=app("worker"))
    kube.on("get", "deployment", "scheduler", json_out=app("scheduler", 1))
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


def read_the_budget(kube: FakeKube) -> bool:
    return any(kube.ran("get", kind) for kind in ("configmaps", "horizontalpodautoscalers", "statefulset"))


class TestConnectionBudget:
    """A maximum is not raised past PostgreSQL's connections (rules.connections, the arithmetic of
    tests/k8s/test_connection_budget.py), worked out from the cluster's objects."""

    def test_a_maximum_beyond_the_database_is_refused(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "api", "40", "--hpa", "--yes")
        assert result.exit_code == 2
        assert " ".join(result.stderr.split()) == (
            "error: --hpa: In leadgen-dev: maxReplicas 40 for api would let the database clients hold up "
            "to 612 PostgreSQL connections at once (api: 90 pods (40 + 10 surge + 40 draining) x 1 "
            "engines x 5 connections), but the server allows 395 (max_connections 400 less 5 reserved "
            "for superusers); api fits up to maxReplicas 20. hint: Raise max_connections (and the "
            "server's memory) in the overlay first: docs/KUBERNETES_SETUP.md, datastore notes."
        )
        assert not kube.ran("patch")

    def test_the_highest_fitting_maximum_is_allowed(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        doc = payload(run("scale", "dev", "api", "20", "--hpa", "--yes", "--json"))
        assert patched(kube) == {"spec": {"minReplicas": 20, "maxReplicas": 20}}
        assert doc["connections"] == {
            "workload": "api",
            "maximum": 20,
            "fits": True,
            "worst": 387,
            "available": 395,
            "max_connections": 400,
            "reserved": 5,
            "share": "45 pods (20 + 5 surge + 20 draining) x 1 engines x 5 connections",
            "highest_fitting": None,
            "bound": "maxReplicas",
        }

    def test_the_pools_and_the_server_come_from_the_cluster(self, run: Run, kube: FakeKube) -> None:
        """Pool 10 in the ConfigMap the Deployments use, max_connections 1300 in the StatefulSet's
        args: 90 api pods of 10, 5 pods of 10 for data-service and backend, of twice 10 for the
        orchestrator and the worker, the migration's 2 and the other clients' 10."""
        cluster(kube)
        database(kube, Environment.DEV, max_connections=1300, pool=10)
        doc = payload(run("scale", "dev", "api", "40", "--hpa", "--yes", "--json"))
        assert doc["connections"]["worst"] == 900 + 50 + 50 + 100 + 100 + 2 + 10
        assert doc["connections"]["available"] == 1295

    def test_a_deployment_without_an_hpa_is_held_to_its_replicas(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "worker", "30", "--yes")
        assert result.exit_code == 2
        assert "In leadgen-dev: replicas 30 for worker would let the database clients hold up to" in result.stderr
        assert "worker fits up to replicas 7." in " ".join(result.stderr.split())
        assert not kube.ran("scale")

    def test_the_hpa_change_is_not_offered_past_the_budget(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        result = run("scale", "dev", "api", "30", input="y\n", interactive=True)
        assert result.exit_code == 0, result.output
        assert "warning: the HPA change is not offered: maxReplicas 30 for api would" in " ".join(result.stdout.split())
        assert "Change the HPA bounds" not in result.stderr
        assert "from 2 to 30 anyway?" in result.stderr  # the HPA moves it back within its maximum
        assert kube.ran("scale", "deployment/api", "--replicas=30") and not kube.ran("patch")

    def test_prod_reads_max_connections_from_the_cloudnativepg_cluster(self, run: Run, kube: FakeKube) -> None:
        cluster(kube, Environment.PROD)
        result = run("scale", "prod", "api", "40", "--hpa", "-y", "--yes-i-mean-prod", "--json")
        assert result.exit_code == 2
        assert "max_connections 400 less 3 reserved for superusers" in payload(result)["error"]

    def test_no_maximum_raised_reads_nothing(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        assert run("scale", "dev", "api", "4", "--hpa", "--yes").exit_code == 0  # maxReplicas stays 10
        assert run("scale", "dev", "api", "40", "--yes").exit_code == 0  # the HPA moves it back
        assert run("scale", "dev", "worker", "1", "--yes").exit_code == 0
        assert not read_the_budget(kube)

    def test_a_service_without_a_database_is_not_checked(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        kube.on("get", "deployment", "frontend", json_out=app("frontend"))
        kube.not_found("get", "horizontalpodautoscaler", "frontend", what='horizontalpodautoscalers.autoscaling "f"')
        assert run("scale", "dev", "frontend", "30", "--yes").exit_code == 0
        assert not read_the_budget(kube)

    def test_without_a_postgres_server_the_budget_is_unknown(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        kube.not_found("get", "statefulset", "postgres", what='statefulsets.apps "postgres"')
        result = run("scale", "dev", "worker", "3", "--yes")
        assert result.exit_code == 1
        assert "no StatefulSet postgres in leadgen-dev, so max_connections is unknown" in result.stderr
        assert not kube.ran("scale")

    def test_a_database_client_the_rule_does_not_know_is_refused(self, run: Run, kube: FakeKube) -> None:
        cluster(kube)
        stray = objects.deployment("psql-shell")
        pod = stray["spec"]["template"]["spec"]
        pod["containers"][0]["args"] = ["sleep", "infinity"]
        pod["volumes"] = [{"name": "s", "secret": {"secretName": "leadgen-db-client-5k8d2h9f4m"}}]
        listed = [app(name) for name in MAXIMA] + [stray]
        kube.on("get", "deployments", json_out=objects.as_list(listed))
        result = run("scale", "dev", "worker", "3", "--yes")
        assert result.exit_code == 1
        assert "psql-shell uses the database but runs no target leadgen knows" in result.stderr


KUBECTL = shutil.which("kubectl")


# Under CI=true a missing kubectl fails these tests instead of skipping them.
@pytest.mark.skipif(
    KUBECTL is None and not IN_CI, reason="kubectl is not installed (its kustomize renders the overlays)"
)
class TestTheRealOverlay:
    """The cluster as prod's overlay makes it: the CLI's answer is the manifest test's."""

    def serve(self, kube: FakeKube) -> connections.Objects:
        from tests.k8s.render import render

        resources = render("overlays/prod")
        state = connections.Objects.of(resources)
        kube.healthy(Environment.PROD)
        for kind, items in (("deployments", state.deployments), ("horizontalpodautoscalers", state.autoscalers),
                            ("configmaps", state.config_maps)):  # fmt: skip
            kube.on("get", kind, json_out=objects.as_list(list(items)))
        for item in (*state.deployments, *state.autoscalers):
            kube.on("get", item["kind"].lower(), item["metadata"]["name"], json_out=item)
        assert state.postgres is not None
        kube.on("get", "clusters.postgresql.cnpg.io", "postgres", json_out=state.postgres)
        kube.on("patch", stdout="horizontalpodautoscaler.autoscaling/worker patched\n")
        return state

    def test_prod_worker_up_to_what_the_budget_holds(self, run: Run, kube: FakeKube) -> None:
        state = self.serve(kube)
        expected = connections.check_maximum(state, "worker", 15)
        assert not expected.fits and expected.highest_fitting == 14
        result = run("scale", "prod", "worker", "15", "--hpa", "-y", "--yes-i-mean-prod", "--json")
        assert result.exit_code == 2
        assert payload(result)["error"] == f"--hpa: In leadgen-prod: {expected.message}"
        doc = payload(run("scale", "prod", "worker", "14", "--hpa", "-y", "--yes-i-mean-prod", "--json"))
        assert doc["connections"]["worst"] == connections.budget_of(state, {"worker": 14}).worst
        assert patched(kube) == {"spec": {"minReplicas": 14, "maxReplicas": 14}}
