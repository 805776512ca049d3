"""``leadgen k8s deploy``: the order of operations, what fails, what a person sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadgen.ops import cli, contract
from leadgen.ops.contract import Environment
from leadgen.ops.deploy import Deployer, DeployOptions, Shipped
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.namespace import expected_context
from leadgen.ops.report import SilentReporter
from leadgen.ops.rules.manifests import parse
from tests.k8s.render import render_text

from . import objects
from .conftest import SHIPPED, FakeKube, Run, payload

API_SELECTOR = "app.kubernetes.io/name=api,app.kubernetes.io/part-of=leadgen"
CRASHING_POD = "api-5f8d7c9b4-7wzlm"


def kinds_applied(call: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(call["stdin"]) if d]


def applies(kube: FakeKube) -> list[dict[str, Any]]:
    return [c for c in kube.calls() if c["args"][:1] == ["apply"]]


def failing_api_rollout(kube: FakeKube, pod_fixture: str = "pod-api-crashloop.json") -> None:
    kube.on(
        "rollout", "status", "deployment/api",
        stderr='error: deployment "api" exceeded its progress deadline\n', exit=1,
    )  # fmt: skip
    kube.on(
        "get", "pods", "--selector", API_SELECTOR,
        json_out=objects.as_list([objects.pod("api"), objects.load(pod_fixture)]),
    )  # fmt: skip
    kube.on(
        "get", "events", "--field-selector", f"involvedObject.name={CRASHING_POD}",
        file="events-api-crashloop.json",
    )  # fmt: skip
    kube.on(
        "logs", CRASHING_POD,
        stdout='{"level":"error","msg":"settings: LEADGEN_DB_URL is required outside development"}\n',
    )  # fmt: skip


class TestSuccessfulDeploy:
    def test_runs_every_step_in_order(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("deploy", "dev")
        assert result.exit_code == 0, result.output
        order = [
            kube.index("kustomize"),
            kube.index("config", "current-context"),
            kube.index("diff"),
            kube.index("apply"),
            kube.index("rollout", "status", "statefulset/postgres"),
            kube.index("get", "job", "db-migrate"),
            kube.index("delete", "job", "db-migrate"),
            kube.index("rollout", "status", "deployment/api"),
            kube.index("get", "deployments"),
        ]
        assert order == sorted(order)
        prerequisites, job, backends, frontend = [i for i, c in enumerate(kube.commands()) if c[0] == "apply"]
        assert prerequisites < kube.index("rollout", "status", "statefulset/postgres")
        read_previous, poll = [i for i, c in enumerate(kube.commands()) if c[:3] == ["get", "job", "db-migrate"]]
        assert read_previous < kube.index("delete", "job") < job < poll < backends
        assert backends < kube.index("rollout", "status", "deployment/api") < frontend
        assert frontend < kube.index("rollout", "status", "deployment/frontend")

    def test_applies_in_phases_with_server_side_apply(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        run("deploy", "dev", "--no-health-check")
        prerequisites, job, backends, frontend = applies(kube)
        for call in (prerequisites, job, backends, frontend):
            assert call["args"][:3] == ["apply", "--server-side", "--field-manager=leadgen"]
            assert call["namespace"] == "leadgen-dev"
        assert kinds_applied(job) == [("Job", "db-migrate")]
        first = kinds_applied(prerequisites)
        assert ("Namespace", "leadgen-dev") in first and ("StatefulSet", "postgres") in first
        assert not {k for k, _ in first} & {"Deployment", "Job", "HorizontalPodAutoscaler"}
        last = kinds_applied(backends) + kinds_applied(frontend)
        assert {n for k, n in last if k == "Deployment"} == {
            "api", "data-service", "orchestrator", "backend", "worker", "scheduler", "frontend",
        }  # fmt: skip
        assert ("Job", "db-migrate") not in last

    def test_diff_never_includes_the_migration_job(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        run("deploy", "dev", "--no-health-check")
        assert ("Job", "db-migrate") not in kinds_applied(kube.first("diff"))

    def test_waits_for_every_rollout(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        run("deploy", "dev", "--timeout", "120", "--no-health-check")
        rollouts = [c[2] for c in kube.commands() if c[:2] == ["rollout", "status"]]
        assert rollouts == [
            "statefulset/postgres", "statefulset/redis", "statefulset/neo4j", "statefulset/qdrant",
            "deployment/api", "deployment/data-service", "deployment/orchestrator",
            "deployment/backend", "deployment/worker", "deployment/scheduler", "deployment/frontend",
        ]  # fmt: skip
        assert all("--timeout=120s" in c for c in kube.commands() if c[:2] == ["rollout", "status"])

    def test_person_sees_steps_diff_and_health(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        out = run("deploy", "dev").stdout
        assert "✓ render" in out and "✓ validate 35 resources" in out
        assert "Diff against the cluster:" in out
        assert "+        image: ghcr.io/leadgen/leadgen:1.5.0" in out
        assert "✓ migrate migrations applied" in out
        assert "✓ rollout deployment/frontend rolled out" in out
        assert "Health of leadgen-dev (standard)" in out
        assert "deploy of dev to leadgen-dev succeeded" in out

    def test_json_shape(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("deploy", "dev", "--json")
        doc = payload(result)
        assert doc["ok"] is True and doc["failure"] is None
        assert doc["environment"] == "dev" and doc["namespace"] == "leadgen-dev"
        assert doc["context"] == "kind-leadgen"
        assert [s["name"] for s in doc["steps"]][:3] == ["render", "validate", "diff"]
        assert doc["steps"][-1] == {"name": "health-check", "status": "ok", "detail": "28 passed, 0 warning(s)"}
        assert doc["diff"].startswith("diff -u -N")
        assert doc["health"]["checks"][0] == {
            "category": "Deployment", "name": "api", "status": "pass", "detail": "2/2 available",
        }  # fmt: skip

    def test_polls_the_migration_job_until_complete(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, RUNNING, RUNNING, COMPLETE])
        result = run("deploy", "dev", "--poll-interval", "0", "--no-health-check")
        assert result.exit_code == 0
        assert sum(1 for c in kube.commands() if c[:3] == ["get", "job", "db-migrate"]) == 1 + 3

    def test_first_deploy_skips_the_diff(self, run: Run, kube: FakeKube) -> None:
        kube.healthy().not_found("get", "namespace", what='namespaces "leadgen-dev"')
        result = run("deploy", "dev")
        assert result.exit_code == 0
        assert not kube.ran("diff")
        assert "- diff namespace leadgen-dev does not exist yet" in result.stdout

    def test_no_diff_and_no_health_check(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        assert run("deploy", "dev", "--no-diff", "--no-health-check").exit_code == 0
        assert not kube.ran("diff") and not kube.ran("get", "deployments")

    def test_deep_health_check_at_the_end(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        assert run("deploy", "dev", "--deep").exit_code == 0
        assert kube.index("exec", "api-7d9c6b8f5d-p0x2q0") > kube.index("rollout", "status", "deployment/frontend")
        assert not kube.ran("get", "--raw")

    def test_force_conflicts_reaches_diff_and_apply(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        run("deploy", "dev", "--force-conflicts", "--no-health-check")
        assert "--force-conflicts" in kube.first("diff")["args"]
        job = ("Job", contract.MIGRATION_JOB)
        assert all("--force-conflicts" in c["args"] for c in applies(kube) if kinds_applied(c) != [job])


class TestDryRun:
    def test_server_dry_run_changes_nothing(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("deploy", "dev", "--dry-run", "server")
        assert result.exit_code == 0
        [apply] = applies(kube)
        assert "--dry-run=server" in apply["args"]
        assert ("Job", "db-migrate") not in kinds_applied(apply)
        assert not kube.ran("delete") and not kube.ran("rollout") and not kube.ran("get", "job")
        assert "dry run (server) of dev to leadgen-dev succeeded" in result.stdout

    def test_client_dry_run(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        # What kubectl v1.32 says to --dry-run=client with --server-side.
        refusal = "error: --dry-run=client doesn't work with --server-side (did you mean --dry-run=server instead?)\n"
        kube.on("apply", contains=("--server-side", "--dry-run=client"), stderr=refusal, exit=1)
        doc = payload(run("deploy", "dev", "--dry-run", "client", "--json"))
        assert doc["dry_run"] == "client" and doc["ok"] is True, doc
        [apply] = applies(kube)
        assert apply["args"] == ["apply", "--dry-run=client", "-f", "-"]
        assert ("Job", "db-migrate") not in kinds_applied(apply)

    def test_client_dry_run_drops_the_server_side_only_flags(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("apply", contains=("--force-conflicts",), exit=1,
                stderr="error: --force-conflicts only works with --server-side\n")  # fmt: skip
        assert run("deploy", "dev", "--dry-run", "client", "--force-conflicts").exit_code == 0
        assert applies(kube)[0]["args"] == ["apply", "--dry-run=client", "-f", "-"]
        assert "--force-conflicts" in kube.first("diff")["args"]  # the diff is server-side

    def test_server_dry_run_keeps_server_side_apply(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        run("deploy", "dev", "--dry-run", "server", "--force-conflicts")
        assert applies(kube)[0]["args"] == [
            "apply", "--server-side", "--field-manager=leadgen", "--force-conflicts", "--dry-run=server", "-f", "-",
        ]  # fmt: skip

    def test_dry_run_on_prod_needs_no_confirmation(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        assert run("deploy", "prod", "--dry-run", "server").exit_code == 0


class TestValidationStopsTheDeploy:
    def test_bad_manifests_never_reach_the_cluster(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        docs = objects.rendered_docs(Environment.DEV)
        api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "api")
        container = api["spec"]["template"]["spec"]["containers"][0]
        del container["readinessProbe"]
        container["image"] = "ghcr.io/leadgen/leadgen:latest"
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV, docs))
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert kube.commands() == [["kustomize", kube.first("kustomize")["args"][1]]]
        assert "has no readinessProbe" in result.stdout
        assert "is not pinned (no tag or :latest)" in result.stdout
        assert "FAILED manifests" in result.stdout

    def test_prod_needs_digests(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV).replace("leadgen-dev", "leadgen-prod"))
        doc = payload(run("deploy", "prod", "--yes-i-mean-prod", "--json"))
        assert doc["ok"] is False and doc["failure"]["resource"] == "manifests"
        assert any("not pinned by digest" in f["message"] for f in doc["findings"])

    def test_namespace_override_must_match_the_render(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("deploy", "dev", "--namespace", "sandbox")
        assert result.exit_code == 1
        assert "is in namespace leadgen-dev, expected sandbox" in result.stdout

    def test_render_failure(self, run: Run, kube: FakeKube) -> None:
        kube.on("kustomize", stderr="error: accumulating resources: 'k8s/base/api' missing\n", exit=1)
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert "accumulating resources" in result.stdout


class TestProdConfirmation:
    def test_refuses_without_flag_or_terminal(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        result = run("deploy", "prod")
        assert result.exit_code == 2
        assert "Refusing to deploy to prod" in result.stderr and "--yes-i-mean-prod" in result.stderr
        assert kube.commands() == []

    def test_refusal_as_json(self, run: Run, kube: FakeKube) -> None:
        result = run("deploy", "prod", "--json")
        assert result.exit_code == 2
        assert payload(result)["ok"] is False

    def test_flag_deploys_prod_with_cnpg(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        result = run("deploy", "prod", "--yes-i-mean-prod")
        assert result.exit_code == 0, result.output
        assert kube.ran("wait", "--for=condition=Ready", "clusters.postgresql.cnpg.io/postgres")
        assert not kube.ran("rollout", "status", "statefulset/postgres")
        assert kube.first("apply")["namespace"] == "leadgen-prod"

    def test_typed_confirmation_after_the_diff(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        result = run("deploy", "prod", "--no-health-check", input="prod\n", interactive=True)
        assert result.exit_code == 0
        assert "Type 'prod' to continue" in result.stderr
        assert kube.index("diff") < kube.index("apply")

    def test_wrong_answer_changes_nothing(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        result = run("deploy", "prod", input="yes\n", interactive=True)
        assert result.exit_code == 2
        assert "cancelled; nothing was changed" in result.stderr
        assert kube.ran("diff") and not kube.ran("apply")


class TestFailedRollout:
    def test_prints_failing_pod_reason_and_events(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        failing_api_rollout(kube)
        result = run("deploy", "dev")
        assert result.exit_code == 1
        out = result.stdout
        assert "✗ rollout deployment/api" in out
        assert "FAILED deployment/api" in out
        assert 'deployment "api" exceeded its progress deadline' in out
        assert f"pod {CRASHING_POD}, container api, reason CrashLoopBackOff" in out
        assert "last termination Error (exit code 1)" in out
        assert "Back-off restarting failed container api" in out
        assert "LEADGEN_DB_URL is required" in out

    def test_stops_and_skips_the_rest(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        failing_api_rollout(kube)
        run("deploy", "dev")
        assert not kube.ran("rollout", "status", "deployment/data-service")
        assert not kube.ran("get", "deployments")
        logs = kube.first("logs")["args"]
        assert logs == ["logs", CRASHING_POD, "--container", "api", "--tail=20", "--previous"]

    def test_failure_as_json(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        failing_api_rollout(kube)
        doc = payload(run("deploy", "dev", "--json"))
        assert doc["ok"] is False
        failure = doc["failure"]
        assert failure["resource"] == "deployment/api"
        assert failure["problem"]["reason"] == "CrashLoopBackOff"
        assert failure["problem"]["restarts"] == 7
        assert failure["problem"]["last_message"] == "settings: LEADGEN_DB_URL is required outside development"
        assert [e["reason"] for e in failure["events"]] == ["Scheduled", "Started", "BackOff"]
        assert doc["steps"][-1]["status"] == "failed"

    def test_image_pull_failure_has_no_logs(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        failing_api_rollout(kube, "pod-api-imagepull.json")
        kube.on("get", "events", "--field-selector", "involvedObject.name=api-6c7b8d9e0f-q8rtn",
                json_out=objects.as_list([]))  # fmt: skip
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert "reason ImagePullBackOff" in result.stdout
        assert "ghcr.io/leadgen/leadgen:1.5.1: not found" in result.stdout
        assert not kube.ran("logs")

    def test_apply_conflict_names_the_fix(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        conflict = (
            'error: Apply failed with 1 conflict: conflict with "kubectl-rollout" using apps/v1: '
            '.spec.template.spec.containers[name="api"].image\n'
        )
        ok = {"stdout": "serverside-applied\n"}
        kube.sequence("apply", responses=[ok, ok, {"stderr": conflict, "exit": 1}])
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert "✗ apply-backends" in result.stdout
        assert "--force-conflicts" in result.stdout
        assert not kube.ran("rollout", "status", "deployment/api")

    def test_a_failure_outside_the_deploy_is_a_warning(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        nodes = objects.healthy(Environment.DEV)["nodes"]
        other = objects.clone(nodes["items"][0])
        other["metadata"]["name"] = "ip-10-0-99-99.ec2.internal"
        ready = next(c for c in other["status"]["conditions"] if c["type"] == "Ready")
        ready["status"], ready["message"] = "Unknown", "Kubelet stopped posting node status."
        nodes["items"].append(other)
        kube.on("get", "nodes", json_out=nodes)
        jobs = objects.healthy(Environment.DEV)["jobs"]
        backup = objects.in_namespace(objects.load("job-db-migrate-failed.json"), "leadgen-dev")
        backup["metadata"]["name"] = "postgres-backup-29401234"
        jobs["items"].append(backup)
        kube.on("get", "jobs", json_out=jobs)
        result = run("deploy", "dev", "--json")
        assert result.exit_code == 0, result.output
        doc = payload(result)
        assert doc["ok"] is True and doc["failure"] is None
        assert doc["steps"][-1] == {
            "name": "health-check", "status": "warning",
            "detail": "28 passed, 0 warning(s); failed, not applied by this deploy: Job postgres-backup-29401234, "
                      "Node ip-10-0-99-99.ec2.internal",
        }  # fmt: skip
        text = run("deploy", "dev")
        assert "│ Node        │ ip-10-0-99-99.ec2.internal" in text.stdout
        assert "deploy of dev to leadgen-dev succeeded" in text.stdout

    def test_a_failed_store_fails_the_deploy(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        statefulsets = objects.healthy(Environment.DEV)["statefulsets"]
        statefulsets["items"][1]["status"]["readyReplicas"] = 0
        kube.on("get", "statefulsets", json_out=statefulsets)
        doc = payload(run("deploy", "dev", "--json"))
        assert doc["ok"] is False
        assert doc["failure"]["message"] == "1 check(s) of what this deploy applied failed: StatefulSet redis"

    def test_failed_health_check_fails_the_deploy(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        bad = objects.healthy(Environment.DEV)["deployments"]
        bad["items"][0] = objects.load("deployment-api-progress-deadline.json")
        kube.on("get", "deployments", json_out=bad)
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert "FAILED health-check" in result.stdout
        assert "has timed out progressing" in result.stdout


class TestWhatTheDeployApplied:
    """Every object the deploy applied is its own: a broken one fails the deploy."""

    def test_a_broken_route_and_service_it_applied_fail_the_deploy(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        route = objects.load("httproute-api.json")
        route["status"]["parents"][0]["conditions"][1].update(
            status="False", reason="BackendNotFound", message="Service leadgen-dev/api port 3001 not found"
        )
        kube.on("get", "httproutes.gateway.networking.k8s.io", json_out=objects.as_list([route]))
        slices = objects.healthy(Environment.DEV)["endpointslices"]
        for eps in slices["items"]:
            if eps["metadata"]["labels"]["kubernetes.io/service-name"] == "frontend":
                eps["endpoints"] = []
        kube.on("get", "endpointslices", json_out=slices)
        doc = payload(run("deploy", "dev", "--json"))
        assert doc["ok"] is False
        assert doc["failure"]["message"] == (
            "2 check(s) of what this deploy applied failed: Service frontend, HTTPRoute api"
        )

    def test_a_deleted_gateway_it_applied_fails_the_deploy(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "gateways.gateway.networking.k8s.io", json_out=objects.as_list([]))
        doc = payload(run("deploy", "dev", "--json"))
        assert doc["failure"]["message"] == "1 check(s) of what this deploy applied failed: Gateway leadgen"

    def test_waits_until_the_controller_reported_on_the_new_spec(self, run: Run, kube: FakeKube) -> None:
        """Right after the apply the route's status is about the previous spec (generation 1)."""
        kube.healthy()
        applied = objects.load("httproute-api.json")
        applied["metadata"]["generation"] = 2
        reported = objects.clone(applied)
        for condition in reported["status"]["parents"][0]["conditions"]:
            condition["observedGeneration"] = 2
        stale = {"stdout": json.dumps(objects.as_list([applied]))}
        kube.sequence("get", "httproutes.gateway.networking.k8s.io",
                      responses=[stale, stale, {"stdout": json.dumps(objects.as_list([reported]))}])  # fmt: skip
        result = run("deploy", "dev", "--poll-interval", "0", "--json")
        assert result.exit_code == 0, result.output
        steps = {s["name"]: s for s in payload(result)["steps"]}
        assert steps["reconcile"] == {
            "name": "reconcile",
            "status": "ok",
            "detail": "reported on Gateway leadgen; HTTPRoute api",
        }
        polls = [i for i, c in enumerate(kube.commands()) if c[:2] == ["get", "httproutes.gateway.networking.k8s.io"]]
        assert len(polls) == 4  # three while waiting, one by the health check
        assert kube.index("rollout", "status", "deployment/frontend") < polls[0]

    def test_a_route_never_reconciled_fails_the_deploy(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        route = objects.load("httproute-api.json")
        route["metadata"]["generation"] = 2
        kube.on("get", "httproutes.gateway.networking.k8s.io", json_out=objects.as_list([route]))
        result = run("deploy", "dev", "--timeout", "1", "--poll-interval", "0.2", "--json")
        doc = payload(result)
        assert result.exit_code == 1
        steps = {s["name"]: s for s in doc["steps"]}
        assert steps["reconcile"] == {
            "name": "reconcile", "status": "warning", "detail": "not reconciled after 1s: HTTPRoute/api",
        }  # fmt: skip
        assert doc["failure"]["message"] == "1 check(s) of what this deploy applied failed: HTTPRoute api"
        [check] = [c for c in doc["health"]["checks"] if c["category"] == "HTTPRoute"]
        assert "not reconciled (reported for generation 1, the spec is generation 2)" in check["detail"]


def labelled(kind: str, api_version: str, name: str, **meta: Any) -> dict[str, Any]:
    """A platform object as `kubectl get` lists it."""
    labels = {contract.PART_OF_LABEL: contract.PART_OF}
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": labels, **meta}}


class TestObjectsTheOverlayNoLongerRenders:
    """Apply never deletes; deploy reports what an earlier render left behind, and deletes nothing."""

    def leftovers(self, kube: FakeKube) -> None:
        kube.on("get", "--selector", contract.PART_OF_SELECTOR, json_out=objects.as_list([
            labelled("Deployment", "apps/v1", "api"),  # rendered
            labelled("Deployment", "apps/v1", "quote-api"),  # renamed to api long ago
            labelled("PodDisruptionBudget", "policy/v1", "worker"),  # dropped from the overlay
            labelled("Service", "v1", "postgres-rw", ownerReferences=[{"kind": "Cluster", "name": "postgres"}]),
        ]))  # fmt: skip

    def test_reported_with_the_command_that_deletes_them(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        self.leftovers(kube)
        result = run("deploy", "dev", "--json")
        assert result.exit_code == 0, result.output
        doc = payload(result)
        assert doc["orphans"] == ["deployment.apps/quote-api", "poddisruptionbudget.policy/worker"]
        [step] = [s for s in doc["steps"] if s["name"] == "orphans"]
        assert step["status"] == "warning"
        assert step["detail"].endswith(
            "`kubectl -n leadgen-dev delete deployment.apps/quote-api poddisruptionbudget.policy/worker`"
        )
        assert not kube.ran("delete", "deployment.apps/quote-api") and not kube.ran("apply", "--prune")
        [listing] = [c for c in kube.commands() if c[:3] == ["get", "--selector", contract.PART_OF_SELECTOR]]
        assert listing[3].split(",") == [
            "certificate.cert-manager.io", "deployment.apps", "gateway.gateway.networking.k8s.io",
            "horizontalpodautoscaler.autoscaling", "httproute.gateway.networking.k8s.io",
            "networkpolicy.networking.k8s.io", "poddisruptionbudget.policy", "service", "serviceaccount",
            "statefulset.apps",
        ]  # fmt: skip

    def test_after_the_rollouts_and_in_a_dry_run(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        self.leftovers(kube)
        run("deploy", "dev", "--no-health-check")
        listing = kube.index("get", "--selector", contract.PART_OF_SELECTOR)
        assert listing > kube.index("rollout", "status", "deployment/frontend")
        dry = run("deploy", "dev", "--dry-run", "server")
        assert "! orphans 2 object(s)" in dry.stdout

    def test_a_role_that_may_not_list_them_skips_the_step(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "--selector", exit=1, stderr="Error from server (Forbidden): roles is forbidden\n")
        result = run("deploy", "dev", "--json")
        assert result.exit_code == 0, result.output
        [step] = [s for s in payload(result)["steps"] if s["name"] == "orphans"]
        assert step["status"] == "skipped" and "cannot list them" in step["detail"]


BACKENDS = {"api", "data-service", "orchestrator", "backend", "worker", "scheduler"}


def deployments_in(call: dict[str, Any]) -> set[str]:
    return {name for kind, name in kinds_applied(call) if kind == "Deployment"}


def renamed(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of a rendered workload under another name and app label."""
    copy: dict[str, Any] = objects.clone(doc)
    copy["metadata"]["name"] = name
    copy["metadata"]["labels"][contract.NAME_LABEL] = name
    return copy


class TestRolloutWaves:
    """The api of the previous release refuses the new quote form's body: the backends the
    frontend calls roll out before the frontend is applied."""

    def test_backends_roll_out_before_the_frontend_is_applied(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("deploy", "dev", "--no-health-check")
        assert result.exit_code == 0, result.output
        _, _, backends, frontend = applies(kube)
        assert deployments_in(backends) == BACKENDS
        assert kinds_applied(frontend) == [("Deployment", "frontend")]
        frontend_applied = [i for i, c in enumerate(kube.commands()) if c[0] == "apply"][-1]
        for name in BACKENDS:
            assert kube.index("apply") < kube.index("rollout", "status", f"deployment/{name}") < frontend_applied
        assert frontend_applied < kube.index("rollout", "status", "deployment/frontend")
        assert "✓ apply-backends" in result.stdout and "✓ apply-frontend 1 resources" in result.stdout

    def test_an_hpa_goes_with_the_deployment_it_scales(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        docs = objects.rendered_docs(Environment.DEV)
        hpa = renamed(next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler"), "frontend")
        hpa["spec"]["scaleTargetRef"]["name"] = "frontend"
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV, [*docs, hpa]))
        assert run("deploy", "dev", "--no-health-check").exit_code == 0
        _, _, backends, frontend = applies(kube)
        assert ("HorizontalPodAutoscaler", "frontend") not in kinds_applied(backends)
        assert ("HorizontalPodAutoscaler", "api") in kinds_applied(backends)
        assert kinds_applied(frontend) == [("Deployment", "frontend"), ("HorizontalPodAutoscaler", "frontend")]

    def test_failed_backend_rollout_leaves_the_frontend_on_the_previous_release(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        failing_api_rollout(kube)
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert len(applies(kube)) == 3  # prerequisites, the Job, the backends
        assert not any("frontend" in deployments_in(call) for call in applies(kube))
        assert not kube.ran("rollout", "status", "deployment/frontend")
        out = " ".join(result.stdout.split())  # the hint wraps
        assert "✗ rollout deployment/api" in out and "FAILED deployment/api" in out
        assert "Stopped before wave 2 (frontend: Deployment frontend), which keeps running the previous" in out
        assert "Fix deployment/api (see above) and run `leadgen k8s deploy dev` again" in out

    def test_failure_in_the_last_wave_holds_nothing_back(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("rollout", "status", "deployment/frontend", stderr="error: timed out waiting\n", exit=1)
        kube.on("get", "pods", json_out=objects.as_list([]))
        doc = payload(run("deploy", "dev", "--json"))
        assert doc["failure"]["resource"] == "deployment/frontend"
        assert doc["failure"]["hint"] is None

    def test_dry_run_shows_the_waves(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("deploy", "dev", "--dry-run", "server")
        assert result.exit_code == 0
        out = result.stdout
        assert "wave 1 (backends): Deployment api, data-service, orchestrator, backend, worker, scheduler;" in out
        assert "wave 2 (frontend): Deployment frontend" in out
        assert out.index("wave 1 (backends)") < out.index("wave 2 (frontend)") < out.index("dry run (server)")
        doc = payload(run("deploy", "dev", "--dry-run", "server", "--json"))
        assert list(doc["waves"]) == ["backends", "frontend"]
        assert doc["waves"]["frontend"] == ["Deployment/frontend"]
        assert "HorizontalPodAutoscaler/api" in doc["waves"]["backends"]

    def test_a_workload_in_no_wave_never_reaches_the_cluster(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        docs = objects.rendered_docs(Environment.DEV)
        api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "api")
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV, [*docs, renamed(api, "reports")]))
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert kube.commands() == [["kustomize", kube.first("kustomize")["args"][1]]]
        assert "is in no rollout wave" in result.stdout and "FAILED manifests" in result.stdout


class TestMigration:
    def failed_job(self, kube: FakeKube) -> None:
        kube.on("get", "job", "db-migrate", file="job-db-migrate-failed.json")
        kube.on("get", "pods", "--selector", "batch.kubernetes.io/job-name=db-migrate",
                json_out=objects.as_list([objects.load("pod-db-migrate-failed.json")]))  # fmt: skip
        error = "alembic.util.exc.CommandError: Can't locate revision identified by '20261120_add_returns'\n"
        kube.on("logs", "db-migrate-kx7pw", stdout=error)

    def test_failed_migration_stops_before_the_workloads(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        self.failed_job(kube)
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert len(applies(kube)) == 2  # prerequisites and the Job; never the new application code
        assert not kube.ran("rollout", "status", "deployment/api")
        out = result.stdout
        assert "FAILED job/db-migrate" in out
        assert "BackoffLimitExceeded" in out
        assert "pod db-migrate-kx7pw, container migrate, reason Error" in out
        assert "Can't locate revision" in out
        assert kube.first("logs")["args"][-1] == "--tail=20"  # no restarts: current run's logs

    def test_job_removed_before_its_result_was_read(self, run: Run, kube: FakeKube) -> None:
        kube.healthy().not_found("get", "job", "db-migrate", what='jobs.batch "db-migrate"')
        kube.on("get", "pods", json_out=objects.as_list([]))
        doc = payload(run("deploy", "dev", "--json"))
        assert doc["failure"]["resource"] == "job/db-migrate"
        assert "ttlSecondsAfterFinished" in doc["failure"]["message"]
        assert len(applies(kube)) == 2

    def deployer(self, kube: FakeKube, options: DeployOptions, monkeypatch: pytest.MonkeyPatch) -> Deployer:
        """A Deployer whose clock moves 100 s each time it is read and which never sleeps."""
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, RUNNING])
        kube.on("get", "pods", json_out=objects.as_list([]))
        for key, value in kube.env().items():
            monkeypatch.setenv(key, value)
        ticks = iter(range(0, 100_000, 100))
        return Deployer(
            Kubectl(str(kube.kubectl), namespace="leadgen-dev"), options, SilentReporter(),
            prompter=None,  # type: ignore[arg-type]  # dev never asks
            sleep=lambda _: None, clock=lambda: next(ticks),
        )  # fmt: skip

    def test_timeout(self, kube: FakeKube, overlays: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        options = DeployOptions(Environment.DEV, overlays / "dev", "leadgen-dev", migration_timeout=250)
        result = self.deployer(kube, options, monkeypatch).run()
        assert not result.ok
        assert result.failure is not None
        assert result.failure.message == "not finished after 250s (1 running)"
        assert sum(1 for c in kube.commands() if c[:3] == ["get", "job", "db-migrate"]) == 1 + 3

    def test_the_default_timeout_is_the_jobs_own_deadline(
        self, kube: FakeKube, overlays: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The overlay's Job: activeDeadlineSeconds 900. Deploy outwaits it, to report its verdict.
        options = DeployOptions(Environment.DEV, overlays / "dev", "leadgen-dev")
        result = self.deployer(kube, options, monkeypatch).run()
        assert result.failure is not None
        assert result.failure.message == "not finished after 930s (1 running)"
        assert "--timeout=930s" in kube.first("delete", "job", "db-migrate")["args"]

    def test_the_job_needs_a_deadline(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        docs = objects.rendered_docs(Environment.DEV)
        del next(d for d in docs if d["kind"] == "Job")["spec"]["activeDeadlineSeconds"]
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV, docs))
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert "Job/db-migrate" in result.stdout and "has no spec.activeDeadlineSeconds" in result.stdout
        assert not kube.ran("apply")


RUNNING = {"stdout_file": str(objects.FIXTURES / "job-db-migrate-running.json")}
COMPLETE = {"stdout_file": str(objects.FIXTURES / "job-db-migrate-complete.json")}
FAILED = {"stdout_file": str(objects.FIXTURES / "job-db-migrate-failed.json")}
MIGRATE_SELECTOR = "batch.kubernetes.io/job-name=db-migrate"


def migration_pod(fixture: str) -> dict[str, Any]:
    pod = objects.load(fixture)
    pod["metadata"]["name"] = "db-migrate-m4x7q"
    pod["metadata"]["labels"] = {contract.JOB_NAME_LABEL: "db-migrate"}
    return pod


class TestThePreviousMigrationJob:
    """Deploy deletes the previous Job only once it finished: deleting an active one kills its
    pod, and with it a migration that may be half done."""

    def test_an_active_one_is_left_alone_and_stops_the_deploy(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "job", "db-migrate", file="job-db-migrate-running.json")
        kube.on(
            "get", "pods", "--selector", MIGRATE_SELECTOR, json_out=objects.as_list([migration_pod("pod-api.json")])
        )
        result = run("deploy", "dev", "--json")
        assert result.exit_code == 1
        assert not kube.ran("delete")
        assert [kinds_applied(c) for c in applies(kube)][1:] == []  # neither the Job nor any workload
        failure = payload(result)["failure"]
        assert failure["resource"] == "job/db-migrate"
        assert failure["message"] == (
            "the previous Job/db-migrate is still active (started 2026-11-25T11:58:02Z, 1 running): the "
            "migration of an earlier or concurrent deploy may be running, and deleting the Job could stop it midway"
        )
        assert (
            "The Job was left alone. Follow it with `kubectl -n leadgen-dev logs -f job/db-migrate`"
            in (failure["hint"])
        )
        assert "If its pod cannot start" in failure["hint"]

    def test_the_active_ones_release_is_named(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        job = objects.load("job-db-migrate-running.json")
        job["spec"]["template"]["metadata"]["annotations"] = {contract.RELEASE_ANNOTATION: "1.4.2+0a1b2c3d4e"}
        kube.on("get", "job", "db-migrate", json_out=job)
        kube.on("get", "pods", json_out=objects.as_list([]))
        message = payload(run("deploy", "dev", "--json"))["failure"]["message"]
        assert "still active (release 1.4.2+0a1b2c3d4e, started 2026-11-25T11:58:02Z, 1 running)" in message

    def test_one_of_this_release_is_waited_for(self, run: Run, kube: FakeKube) -> None:
        """A deploy cut short while it waited for its migration, run again: the Job it started
        still runs this release's migration."""
        kube.healthy()
        release = payload(run("deploy", "dev", "--dry-run", "server", "--json"))["release"]
        running = objects.load("job-db-migrate-running.json")
        running["spec"]["template"]["metadata"]["annotations"] = {contract.RELEASE_ANNOTATION: release}
        kube.sequence("get", "job", "db-migrate", responses=[{"stdout": json.dumps(running)}, RUNNING, COMPLETE])
        kube.on("get", "pods", "--selector", MIGRATE_SELECTOR, json_out=objects.as_list([]))
        result = run("deploy", "dev", "--poll-interval", "0", "--no-health-check")
        assert result.exit_code == 0, result.output
        assert f"Job/db-migrate of this release ({release}) is still running: waiting for it" in result.stdout
        assert not kube.ran("delete")
        assert ("Job", "db-migrate") not in {k for call in applies(kube) for k in kinds_applied(call)}

    def test_a_failed_one_is_replaced(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[FAILED, COMPLETE])
        assert run("deploy", "dev", "--no-health-check").exit_code == 0
        assert (
            kube.index("delete", "job", "db-migrate") < [i for i, c in enumerate(kube.commands()) if c[0] == "apply"][1]
        )

    def test_none_to_replace(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        missing = {"stderr": 'Error from server (NotFound): jobs.batch "db-migrate" not found\n', "exit": 1}
        kube.sequence("get", "job", "db-migrate", responses=[missing, COMPLETE])
        assert run("deploy", "dev", "--no-health-check").exit_code == 0
        assert not kube.ran("delete")
        assert ("Job", "db-migrate") in kinds_applied(applies(kube)[1])


TLS_TIMEOUT = "Unable to connect to the server: net/http: TLS handshake timeout\n"
BLIP = {"stderr": TLS_TIMEOUT, "exit": 1}


class TestAnAPIServerThatDoesNotAnswer:
    """Polling the migration rides out an API server that misses a few requests; one that stays
    away ends the deploy as a failed step, with every step before it still reported."""

    def test_a_blip_while_polling_the_migration_is_tried_again(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, RUNNING, BLIP, COMPLETE])
        kube.on("get", "pods", "--selector", MIGRATE_SELECTOR, json_out=objects.as_list([]))
        result = run("deploy", "dev", "--poll-interval", "0", "--no-diff")
        assert result.exit_code == 0, result.output
        assert "the API server did not answer (Unable to connect to the server" in result.stdout
        assert "✓ migrate migrations applied" in result.stdout
        assert sum(1 for c in kube.commands() if c[:3] == ["get", "job", "db-migrate"]) == 4

    def test_one_that_stays_away_is_a_failed_step(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, RUNNING, BLIP])
        kube.on("get", "pods", "--selector", MIGRATE_SELECTOR, json_out=objects.as_list([]))
        result = run("deploy", "dev", "--poll-interval", "0", "--no-diff", "--json")
        assert result.exit_code == 1
        doc = payload(result)
        assert doc["ok"] is False
        assert [s["name"] for s in doc["steps"]][:3] == ["render", "validate", "apply-prerequisites"]
        assert doc["steps"][-1]["name"] == "migrate" and doc["steps"][-1]["status"] == "failed"
        assert doc["failure"]["message"] == f"`kubectl get job db-migrate -o json` failed: {TLS_TIMEOUT.strip()}"
        assert doc["failure"]["hint"].startswith("The API server is unreachable")
        assert "Job/db-migrate may still be running" in doc["failure"]["hint"]
        assert "deploying this release again waits for it" in doc["failure"]["hint"]
        # the first read of the previous Job, then one poll that saw it running and five attempts
        assert sum(1 for c in kube.commands() if c[:3] == ["get", "job", "db-migrate"]) == 1 + 1 + 5

    def test_a_person_sees_the_failed_step(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, BLIP])
        kube.on("get", "pods", "--selector", MIGRATE_SELECTOR, json_out=objects.as_list([]))
        result = run("deploy", "dev", "--poll-interval", "0", "--no-diff")
        assert result.exit_code == 1
        assert "✓ apply-prerequisites" in result.stdout and "✗ migrate" in result.stdout
        assert "FAILED migrate" in result.stdout and "TLS handshake timeout" in result.stdout
        assert result.stderr == ""

    def test_an_error_that_is_not_transient_is_not_retried(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        forbidden = {"stderr": 'Error from server (Forbidden): jobs.batch "db-migrate" is forbidden\n', "exit": 1}
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, forbidden])
        result = run("deploy", "dev", "--poll-interval", "0", "--no-diff", "--json")
        assert payload(result)["steps"][-1]["name"] == "migrate"
        assert sum(1 for c in kube.commands() if c[:3] == ["get", "job", "db-migrate"]) == 2


class TestAMigrationPodThatCannotStart:
    def test_fails_at_the_first_poll_with_the_reason(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, RUNNING])
        pod = migration_pod("pod-api-imagepull.json")
        kube.on("get", "pods", "--selector", MIGRATE_SELECTOR, json_out=objects.as_list([pod]))
        result = run("deploy", "dev", "--poll-interval", "0", "--json")
        assert result.exit_code == 1
        assert sum(1 for c in kube.commands() if c[:3] == ["get", "job", "db-migrate"]) == 1 + 1
        failure = payload(result)["failure"]
        assert failure["resource"] == "job/db-migrate"
        assert failure["message"] == "its pod cannot start: ImagePullBackOff"
        assert failure["problem"]["pod"] == "db-migrate-m4x7q"
        assert "ghcr.io/leadgen/leadgen:1.5.1: not found" in failure["problem"]["message"]
        assert failure["hint"] == (
            "Job/db-migrate stays active until its activeDeadlineSeconds (900s), and deploy does not replace "
            "an active migration Job; while its pod waits in ImagePullBackOff, no migration runs in it. Fix "
            "the cause (above), delete the Job (`kubectl -n leadgen-dev delete job db-migrate`) and deploy again."
        )
        assert len(applies(kube)) == 2  # prerequisites and the Job; no workload

    def test_a_pod_that_is_starting_is_waited_for(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.sequence("get", "job", "db-migrate", responses=[COMPLETE, RUNNING, COMPLETE])
        pod = migration_pod("pod-api.json")
        pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
        kube.on("get", "pods", "--selector", MIGRATE_SELECTOR, json_out=objects.as_list([pod]))
        assert run("deploy", "dev", "--poll-interval", "0", "--no-health-check").exit_code == 0


class TestMissingTools:
    def test_kubectl_path_that_does_not_exist(self, run: Run, kube: FakeKube) -> None:
        result = run("deploy", "dev", "--kubectl", "/nowhere/kubectl")
        assert result.exit_code == 2
        assert "--kubectl /nowhere/kubectl: no executable file there." in result.stderr

    def test_kubectl_not_on_path(self, run: Run, kube: FakeKube) -> None:
        result = run("deploy", "dev", "--kubectl", "kubectl-that-is-not-installed")
        assert result.exit_code == 2
        assert "was not found on PATH" in result.stderr and "Install kubectl" in result.stderr

    def test_no_current_context(self, run: Run, kube: FakeKube) -> None:
        kube.healthy().on("config", "current-context", stderr="error: current-context is not set\n", exit=1)
        result = run("deploy", "dev")
        assert result.exit_code == 2
        assert "kubectl has no current context" in result.stderr
        assert "--context" in result.stderr
        assert not kube.ran("diff") and not kube.ran("apply")

    def test_unknown_context(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("deploy", "dev", "--context", "staging-gke")
        assert result.exit_code == 2
        assert "no context named 'staging-gke' (known: kind-leadgen, prod-eks)" in result.stderr

    def test_explicit_kubectl_and_context(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("--context", "prod-eks", "deploy", "dev", "--kubectl", str(kube.kubectl), "--no-health-check")
        assert result.exit_code == 0
        assert kube.first("apply")["context"] == "prod-eks"
        assert "context" not in kube.first("kustomize")  # rendering never touches a cluster

    def test_missing_overlay(self, run: Run, kube: FakeKube, tmp_path: Path) -> None:
        result = run("deploy", "dev", "--overlays-dir", str(tmp_path))
        assert result.exit_code == 2
        assert "not found" in result.stderr and "--overlays-dir" in result.stderr


def with_kube_context(kube: FakeKube, env: Environment, kube_context: str) -> None:
    """The overlay's cluster settings name ``kube_context`` as the environment's context."""
    settings = objects.cluster_settings(env)
    settings["metadata"]["namespace"] = env.namespace
    settings["data"][contract.CLUSTER_SETTINGS_KUBE_CONTEXT] = kube_context
    kube.on("kustomize", stdout=objects.rendered(env, [*objects.rendered_docs(env), settings]))
    kube.on("config", "get-contexts", stdout="kind-dev-laptop\nleadgen-prod\n")


class TestTheEnvironmentsCluster:
    """The overlay's settings name the context of the environment's cluster; deploy uses no other."""

    def test_prod_is_never_deployed_through_a_laptops_context(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        with_kube_context(kube, Environment.PROD, "leadgen-prod")
        kube.on("config", "current-context", stdout="kind-dev-laptop\n")
        result = run("deploy", "prod", "--yes-i-mean-prod")
        assert result.exit_code == 2
        message = " ".join(result.stderr.split())
        assert (
            "Context kind-dev-laptop is not prod's: the overlay's leadgen-cluster-settings (kubeContext) "
            "names leadgen-prod" in message
        )
        assert "--context leadgen-prod" in message
        assert not kube.ran("diff") and not applies(kube) and not kube.ran("get", "namespace")

    def test_the_context_option_selects_it(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        with_kube_context(kube, Environment.PROD, "leadgen-prod")
        kube.on("config", "current-context", stdout="kind-dev-laptop\n")
        result = run("deploy", "prod", "--yes-i-mean-prod", "--context", "leadgen-prod", "--json")
        assert result.exit_code == 0, result.output
        assert payload(result)["context"] == "leadgen-prod"
        assert {c["context"] for c in applies(kube)} == {"leadgen-prod"}

    def test_an_empty_setting_takes_any_context(self, run: Run, kube: FakeKube) -> None:
        """dev, as committed: a laptop's kind or minikube."""
        kube.healthy()
        with_kube_context(kube, Environment.DEV, "")
        kube.on("config", "current-context", stdout="kind-dev-laptop\n")
        assert run("deploy", "dev", "--no-health-check").exit_code == 0

    def test_health_check_refuses_another_context_too(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        with_kube_context(kube, Environment.PROD, "leadgen-prod")
        kube.on("config", "current-context", stdout="kind-dev-laptop\n")
        result = run("health-check", "prod")
        assert result.exit_code == 2 and "names leadgen-prod" in result.stderr
        assert not kube.ran("get", "deployments")

    @pytest.mark.parametrize(
        ("env", "expected"),
        [(Environment.DEV, None), (Environment.STAGING, "leadgen-staging"), (Environment.PROD, "leadgen-prod")],
    )
    def test_the_committed_overlays_name_the_documented_contexts(self, env: Environment, expected: str | None) -> None:
        """docs/KUBERNETES_SETUP.md section 2 renames each cluster's context leadgen-<env>; rollback,
        scale and debug hold a namespace whose settings cannot say to the same."""
        resources, _ = parse(render_text(f"overlays/{env.value}"))
        assert expected_context(resources) == expected
        assert contract.DOCUMENTED_CONTEXTS[env] == expected


def templates_applied(kube: FakeKube) -> dict[tuple[str, str], dict[str, Any]]:
    """The pod template annotations of each workload deploy applied, by (kind, name)."""
    found = {}
    for call in applies(kube):
        for doc in yaml.safe_load_all(call["stdin"]):
            if doc and doc["kind"] in ("Deployment", "StatefulSet", "Job"):
                meta = doc["spec"]["template"].get("metadata") or {}
                found[(doc["kind"], doc["metadata"]["name"])] = meta.get("annotations") or {}
    return found


class TestRelease:
    def test_every_app_deployment_and_the_migration_job_carry_the_release(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        doc = payload(run("deploy", "dev", "--no-health-check", "--json"))
        release = doc["release"]
        assert release.startswith("1.5.0+") and len(release) == len("1.5.0+") + 10
        stamped = templates_applied(kube)
        for name in contract.DEPLOYMENTS:
            assert stamped[("Deployment", name)] == {
                contract.RELEASE_ANNOTATION: release,
                contract.SCHEMA_HEAD_ANNOTATION: SHIPPED.schema_head,
            }
        assert stamped[("Job", "db-migrate")][contract.RELEASE_ANNOTATION] == release
        # Restarting the datastores on every release would be needless.
        assert stamped[("StatefulSet", "postgres")] == {}
        assert release in kinds_diffed(kube)

    def test_the_same_render_is_the_same_release(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        first = payload(run("deploy", "dev", "--no-health-check", "--json"))["release"]
        second = payload(run("deploy", "dev", "--no-health-check", "--json"))["release"]
        assert first == second  # a redeploy changes no pod template, so restarts nothing

    def test_any_pod_template_change_is_a_new_release_for_every_deployment(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        before = payload(run("deploy", "dev", "--no-health-check", "--json"))["release"]
        docs = objects.rendered_docs(Environment.DEV)
        api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "api")
        api["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "api-config-7g2h"}}]
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV, docs))
        after = payload(run("deploy", "dev", "--no-health-check", "--json"))["release"]
        assert after != before
        # Not only api: every Deployment gets a revision of the new release to roll back from.
        assert {a.get(contract.RELEASE_ANNOTATION) for a in templates_applied(kube).values() if a} == {after}

    def test_schema_head_only_when_this_cli_ships_the_deployed_version(
        self, run: Run, kube: FakeKube, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        kube.healthy()
        monkeypatch.setattr(cli, "shipped", lambda: Shipped("1.4.9", "20261101_0030"))
        result = run("deploy", "dev", "--no-health-check")
        assert result.exit_code == 0
        assert "Alembic head not recorded: this CLI is leadgen 1.4.9, the overlay deploys image tag 1.5.0" in (
            result.stdout
        )
        api = templates_applied(kube)[("Deployment", "api")]
        assert contract.SCHEMA_HEAD_ANNOTATION not in api and contract.RELEASE_ANNOTATION in api


def kinds_diffed(kube: FakeKube) -> str:
    stdin: str = kube.first("diff")["stdin"]
    return stdin


BOOTSTRAP_DOCS = [
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast-ssd"}},
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "envoy"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "leadgen-deployer", "namespace": "leadgen-dev"}, "rules": []},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "leadgen-deployers", "namespace": "leadgen-dev"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leadgen-deployer"}},
]  # fmt: skip
BOOTSTRAP = {("Namespace", "leadgen-dev"), ("StorageClass", "fast-ssd"), ("GatewayClass", "envoy"),
             ("Role", "leadgen-deployer"), ("RoleBinding", "leadgen-deployers")}  # fmt: skip
FORBIDDEN_NAMESPACE = (
    'Error from server (Forbidden): namespaces "leadgen-dev" is forbidden: User "ci" cannot get resource '
    '"namespaces" in API group "" at the cluster scope\n'
)


class TestAsTheDeployerRole:
    def with_bootstrap_objects(self, kube: FakeKube) -> None:
        kube.healthy()
        kube.on(
            "kustomize",
            stdout=objects.rendered(Environment.DEV, objects.rendered_docs(Environment.DEV) + BOOTSTRAP_DOCS),
        )

    def test_namespace_it_may_not_read_is_taken_to_exist(self, run: Run, kube: FakeKube) -> None:
        self.with_bootstrap_objects(kube)
        kube.on("get", "namespace", stderr=FORBIDDEN_NAMESPACE, exit=1)
        result = run("deploy", "dev", "--no-health-check")
        assert result.exit_code == 0, result.output
        assert "Your role may not read Namespace leadgen-dev" in result.stdout
        assert "Left out 5 object(s) an admin applies" in result.stdout
        assert kube.ran("diff")  # the namespace exists, so there is something to diff against
        sent = set(kinds_applied(kube.first("diff")))
        for call in applies(kube):
            sent |= set(kinds_applied(call))
        assert not sent & BOOTSTRAP
        assert ("NetworkPolicy", "default-deny") in sent and ("Deployment", "api") in sent

    def test_flag_leaves_the_bootstrap_out(self, run: Run, kube: FakeKube) -> None:
        self.with_bootstrap_objects(kube)
        doc = payload(run("deploy", "dev", "--skip-bootstrap", "--no-health-check", "--json"))
        assert doc["ok"] is True
        assert sorted(doc["left_out"]) == sorted(f"{k}/{n}" for k, n in BOOTSTRAP)
        assert not {k for call in applies(kube) for k, _ in kinds_applied(call)} & {"Namespace", "Role"}

    def test_flag_needs_the_namespace_to_exist(self, run: Run, kube: FakeKube) -> None:
        self.with_bootstrap_objects(kube)
        kube.not_found("get", "namespace", what='namespaces "leadgen-dev"')
        result = run("deploy", "dev", "--skip-bootstrap")
        assert result.exit_code == 1
        assert "Namespace/leadgen-dev" in result.stdout and "--skip-bootstrap creates no Namespace" in result.stdout
        assert not applies(kube)

    def test_forbidden_apply_names_the_flag(self, run: Run, kube: FakeKube) -> None:
        self.with_bootstrap_objects(kube)
        kube.on("apply", exit=1, stderr=(
            'Error from server (Forbidden): storageclasses.storage.k8s.io "fast-ssd" is forbidden: User "ci" '
            'cannot patch resource "storageclasses" in API group "storage.k8s.io" at the cluster scope\n'
        ))  # fmt: skip
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert "FAILED StorageClass/fast-ssd" in result.stdout
        assert "pass --skip-bootstrap" in result.stdout

    def test_other_errors_reading_the_namespace_still_stop(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "namespace", exit=1, stderr="The connection to the server 10.0.0.1:443 was refused\n")
        result = run("deploy", "dev")
        assert result.exit_code == 1
        assert "✓ validate" in result.stdout and "✗ deploy" in result.stdout
        assert "API server is unreachable" in result.stdout
        assert not applies(kube)
