"""``leadgen k8s health-check``: the pass/warn/fail table and the exit code CI relies on."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from leadgen.ops import contract, healthcheck
from leadgen.ops.contract import Environment
from leadgen.ops.rules import health
from leadgen.ops.rules.health import Status
from tests.k8s.render import render_text

from . import objects
from .conftest import FakeKube, Run, payload, readyz_answer

UNAVAILABLE = "Error from server (ServiceUnavailable): the server is currently unable to handle the request\n"
FORBIDDEN = 'Error from server (Forbidden): deployments.apps is forbidden: User "ci" cannot list resource\n'


def statuses(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["category"], c["name"]): c["status"] for c in doc["checks"]}


def backups_not_run_yet(kube: FakeKube, *, reason: str = health.WAITING_FOR_FIRST_CONSUMER) -> None:
    """A fresh dev: the backup volume waits for the nightly CronJob's pod to use it."""
    kube.healthy()
    lists = objects.healthy(Environment.DEV)
    claim = objects.pvc("postgres-backups")
    claim["status"] = {"phase": "Pending"}
    lists["persistentvolumeclaims"]["items"].append(claim)
    kube.on("get", "persistentvolumeclaims", json_out=lists["persistentvolumeclaims"])
    event = {
        "involvedObject": {"kind": "PersistentVolumeClaim", "name": "postgres-backups"},
        "reason": reason, "type": "Normal", "count": 41, "lastTimestamp": "2026-11-25T11:59:50Z",
        "message": "waiting for first consumer to be created before binding",
    }  # fmt: skip
    kube.on("get", "events", contains=("involvedObject.kind=PersistentVolumeClaim",),
            json_out=objects.as_list([event]))  # fmt: skip


class TestStandard:
    def test_all_pass(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("health-check", "dev")
        assert result.exit_code == 0
        out = result.stdout
        assert "Health of leadgen-dev (standard)" in out
        assert "│ Deployment  │ api" in out and "│ PASS   │ 2/2 available" in out
        assert "PASS  28 passed, 0 warning(s), 0 failed" in out

    def test_reads_each_kind_once(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        run("health-check", "dev")
        assert [c[1] for c in kube.commands() if c[0] == "get"] == [
            "deployments", "statefulsets", "jobs", "services", "endpointslices",
            "persistentvolumeclaims", "gateways.gateway.networking.k8s.io",
            "httproutes.gateway.networking.k8s.io", "nodes",
        ]  # fmt: skip
        assert "namespace" not in kube.first("get", "nodes")  # nodes are cluster-scoped
        assert kube.first("get", "deployments")["namespace"] == "leadgen-dev"

    def test_json_shape(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        doc = payload(run("health-check", "dev", "--json"))
        assert doc["ok"] is True
        assert doc["counts"] == {"pass": 28, "warn": 0, "fail": 0}
        assert doc["environment"] == "dev" and doc["namespace"] == "leadgen-dev" and doc["deep"] is False
        assert doc["checks"][-1] == {
            "category": "Node", "name": "ip-10-0-12-34.ec2.internal", "status": "pass", "detail": "Ready",
        }  # fmt: skip

    def test_a_stuck_rollout_fails(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        deployments = objects.healthy(Environment.DEV)["deployments"]
        deployments["items"][0] = objects.load("deployment-api-progress-deadline.json")
        kube.on("get", "deployments", json_out=deployments)
        result = run("health-check", "dev")
        assert result.exit_code == 1
        assert 'FAIL   │ ReplicaSet "api-5f8d7c9b4" has timed out progressing.' in result.stdout
        assert "FAIL  27 passed, 0 warning(s), 1 failed" in result.stdout

    def test_missing_deployment_and_empty_service(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        lists = objects.healthy(Environment.DEV)
        lists["deployments"]["items"] = [d for d in lists["deployments"]["items"] if d["metadata"]["name"] != "worker"]
        lists["endpointslices"]["items"][0] = objects.endpointslice("api", ready=False)
        kube.on("get", "deployments", json_out=lists["deployments"])
        kube.on("get", "endpointslices", json_out=lists["endpointslices"])
        doc = payload(run("health-check", "dev", "--json"))
        got = statuses(doc)
        assert got[("Deployment", "worker")] == "fail"
        assert got[("Service", "api")] == "fail"
        assert doc["ok"] is False

    def test_warnings_do_not_fail(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        nodes = objects.healthy(Environment.DEV)["nodes"]
        nodes["items"][0]["spec"]["unschedulable"] = True
        kube.on("get", "nodes", json_out=nodes)
        result = run("health-check", "dev")
        assert result.exit_code == 0
        assert "WARN   │ Ready, cordoned (SchedulingDisabled)" in result.stdout

    def test_a_route_no_gateway_reported_on_fails(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        route = objects.load("httproute-api.json")
        del route["status"]
        kube.on("get", "httproutes.gateway.networking.k8s.io", json_out=objects.as_list([route]))
        result = run("health-check", "dev")
        assert result.exit_code == 1
        assert "FAIL   │ not reconciled: no Gateway has reported on it" in result.stdout

    def test_running_migration_is_a_warning(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "jobs", json_out=objects.as_list([objects.load("job-db-migrate-running.json")]))
        doc = payload(run("health-check", "dev", "--json"))
        assert statuses(doc)[("Job", "db-migrate")] == "warn"
        assert doc["ok"] is True

    def test_pending_pvc_and_rejected_route(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        claim = objects.pvc("data-neo4j-0")
        claim["status"] = {"phase": "Pending"}
        kube.on("get", "persistentvolumeclaims", json_out=objects.as_list([claim]))
        route = objects.load("httproute-api.json")
        route["status"]["parents"][0]["conditions"][1] = {
            "lastTransitionTime": "2026-11-25T11:00:00Z", "message": "Service leadgen-dev/api not found",
            "observedGeneration": 1, "reason": "BackendNotFound", "status": "False", "type": "ResolvedRefs",
        }  # fmt: skip
        kube.on("get", "httproutes.gateway.networking.k8s.io", json_out=objects.as_list([route]))
        doc = payload(run("health-check", "dev", "--json"))
        got = statuses(doc)
        assert got[("PVC", "data-neo4j-0")] == "fail"
        assert got[("HTTPRoute", "api")] == "fail"
        detail = next(c["detail"] for c in doc["checks"] if c["category"] == "HTTPRoute")
        assert "ResolvedRefs=False BackendNotFound" in detail

    def test_a_volume_no_pod_has_used_yet_is_a_warning(self, run: Run, kube: FakeKube) -> None:
        backups_not_run_yet(kube)
        result = run("health-check", "dev", "--json")
        assert result.exit_code == 0
        [check] = [c for c in payload(result)["checks"] if c["name"] == "postgres-backups"]
        assert check["status"] == "warn"
        assert "WaitForFirstConsumer" in check["detail"]
        assert kube.first("get", "events")["namespace"] == "leadgen-dev"

    def test_a_volume_a_pod_uses_must_bind(self, run: Run, kube: FakeKube) -> None:
        backups_not_run_yet(kube)
        backup = objects.pod("postgres-backup", "29871234")
        backup["spec"]["volumes"] = [{"name": "backups", "persistentVolumeClaim": {"claimName": "postgres-backups"}}]
        pods = objects.healthy(Environment.DEV)["pods"]
        pods["items"].append(backup)
        kube.on("get", "pods", json_out=pods)
        result = run("health-check", "dev", "--json")
        assert result.exit_code == 1
        assert statuses(payload(result))[("PVC", "postgres-backups")] == "fail"

    def test_a_volume_that_cannot_be_provisioned_fails(self, run: Run, kube: FakeKube) -> None:
        backups_not_run_yet(kube, reason="ProvisioningFailed")
        result = run("health-check", "dev", "--json")
        assert result.exit_code == 1
        assert statuses(payload(result))[("PVC", "postgres-backups")] == "fail"

    def test_unreadable_events_leave_a_pending_volume_failed(self, run: Run, kube: FakeKube) -> None:
        backups_not_run_yet(kube)
        kube.on("get", "events", exit=1, stderr=FORBIDDEN)
        result = run("health-check", "dev", "--json")
        assert result.exit_code == 1
        assert statuses(payload(result))[("PVC", "postgres-backups")] == "fail"

    def test_node_not_ready_and_cordoned(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        down = objects.load("node-ready.json")
        down["metadata"]["name"] = "ip-10-0-40-17.ec2.internal"
        down["status"]["conditions"][3].update(
            status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status."
        )
        cordoned = objects.load("node-ready.json")
        cordoned["metadata"]["name"] = "ip-10-0-77-2.ec2.internal"
        cordoned["spec"]["unschedulable"] = True
        kube.on("get", "nodes", json_out=objects.as_list([objects.load("node-ready.json"), down, cordoned]))
        doc = payload(run("health-check", "dev", "--json"))
        got = statuses(doc)
        assert got[("Node", "ip-10-0-40-17.ec2.internal")] == "fail"
        assert got[("Node", "ip-10-0-77-2.ec2.internal")] == "warn"

    def test_missing_crd_and_no_permission_are_warnings(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "gateways.gateway.networking.k8s.io", exit=1,
                stderr='error: the server doesn\'t have a resource type "gateways"\n')  # fmt: skip
        kube.on("get", "nodes", exit=1, stderr=(
            'Error from server (Forbidden): nodes is forbidden: User "ci" cannot list resource '
            '"nodes" in API group "" at the cluster scope\n'
        ))  # fmt: skip
        result = run("health-check", "dev")
        assert result.exit_code == 0
        assert "resource type not installed in this cluster" in result.stdout
        assert "no permission to read it" in result.stdout

    def test_reading_nothing_fails(self, run: Run, kube: FakeKube) -> None:
        kube.on("config", "current-context", stdout="kind-leadgen\n")
        kube.on("kustomize", stdout=objects.rendered(Environment.STAGING))
        kube.on("get", exit=1, stderr=FORBIDDEN)
        result = run("health-check", "staging", "--json")
        assert result.exit_code == 1
        doc = payload(result)
        assert doc["ok"] is False and doc["counts"] == {"pass": 0, "warn": 5, "fail": 3}
        assert {c["category"] for c in doc["checks"] if c["status"] == "fail"} == {
            "Deployment",
            "StatefulSet",
            "Service",
        }
        deep = run("health-check", "staging", "--deep")
        assert deep.exit_code == 1
        assert "FAIL  0 passed, 9 warning(s), 3 failed: no check passed, so nothing was verified" in deep.stdout

    def test_a_core_list_it_may_not_read_fails(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "services", exit=1, stderr=FORBIDDEN)
        result = run("health-check", "dev", "--json")
        assert result.exit_code == 1
        [check] = [c for c in payload(result)["checks"] if c["category"] == "Service"]
        assert check == {
            "category": "Service", "name": "-", "status": "fail",
            "detail": "no permission to read it, so its health is unknown",
        }  # fmt: skip

    def test_unreachable_cluster(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("get", "deployments", exit=1, stderr=(
            "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n"
        ))  # fmt: skip
        result = run("health-check", "dev")
        assert result.exit_code == 1
        assert "was refused" in result.stderr and "API server is unreachable" in result.stderr

    def test_prod_checks_the_cnpg_cluster(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        doc = payload(run("health-check", "prod", "--json"))
        got = statuses(doc)
        assert got[("Cluster", "postgres")] == "pass"
        assert ("StatefulSet", "postgres") not in got
        assert kube.first("get", "clusters.postgresql.cnpg.io")["namespace"] == "leadgen-prod"

    def test_prod_cnpg_cluster_degraded(self, run: Run, kube: FakeKube) -> None:
        kube.healthy(Environment.PROD)
        cluster = objects.in_namespace(objects.load("cnpg-cluster-postgres.json"), "leadgen-prod")
        cluster["status"].update(phase="Failing over", readyInstances=2)
        cluster["status"]["conditions"][0].update(status="False", reason="ClusterIsNotReady")
        kube.on("get", "clusters.postgresql.cnpg.io", "postgres", json_out=cluster)
        doc = payload(run("health-check", "prod", "--json"))
        check = next(c for c in doc["checks"] if c["category"] == "Cluster")
        assert check["status"] == "warn" and check["detail"] == "Failing over (2/3)"

    def test_context_and_namespace_before_or_after(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        run("--context", "prod-eks", "health-check", "dev", "-n", "leadgen-dev-2")
        call = kube.first("get", "deployments")
        assert call["context"] == "prod-eks" and call["namespace"] == "leadgen-dev-2"


def edge_deleted_by_hand(kube: FakeKube) -> None:
    """``kubectl delete gateway leadgen``, its routes gone with it, and Service api deleted."""
    kube.on("get", "gateways.gateway.networking.k8s.io", json_out=objects.as_list([]))
    kube.on("get", "httproutes.gateway.networking.k8s.io", json_out=objects.as_list([]))
    services = objects.healthy(Environment.DEV)["services"]
    services["items"] = [s for s in services["items"] if s["metadata"]["name"] != "api"]
    kube.on("get", "services", json_out=services)


class TestWhatTheOverlayRenders:
    """Expected by name: every Service, Gateway and HTTPRoute (and workload) the overlay renders."""

    def test_an_edge_deleted_by_hand_fails(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        edge_deleted_by_hand(kube)
        result = run("health-check", "dev", "--json")
        assert result.exit_code == 1
        failed = {(c["category"], c["name"], c["detail"]) for c in payload(result)["checks"] if c["status"] == "fail"}
        assert failed == {
            ("Service", "api", "not found"), ("Gateway", "leadgen", "not found"), ("HTTPRoute", "api", "not found"),
        }  # fmt: skip

    def test_the_real_overlays_edge_is_expected(self, run: Run, kube: FakeKube) -> None:
        """The committed dev overlay's six routes, its Gateway and each of its Services."""
        kube.healthy()
        kube.on("kustomize", stdout=render_text("overlays/dev"))
        got = statuses(payload(run("health-check", "dev", "--json")))
        routes = {"api", "backend", "data-service", "frontend", "https-redirect", "orchestrator"}
        assert {n for (c, n), s in got.items() if c == "HTTPRoute" and s == "fail"} == routes - {"api"}
        assert got[("Service", "redis-headless")] == "fail" and got[("Service", "api")] == "pass"

    def test_an_overlay_without_a_gateway_expects_none(self, run: Run, kube: FakeKube) -> None:
        """An overlay with the Ingress component renders no Gateway API objects."""
        kube.healthy()
        docs = [d for d in objects.rendered_docs(Environment.DEV) if d["kind"] not in ("Gateway", "HTTPRoute")]
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV, docs))
        kube.on("get", "gateways.gateway.networking.k8s.io", json_out=objects.as_list([]))
        kube.on("get", "httproutes.gateway.networking.k8s.io", json_out=objects.as_list([]))
        assert run("health-check", "dev").exit_code == 0

    def test_a_status_about_an_older_spec_fails(self, run: Run, kube: FakeKube) -> None:
        """A changed spec (generation 2) the controller has not reported on: its True conditions
        are about generation 1 and vouch for nothing."""
        kube.healthy()
        route = objects.load("httproute-api.json")
        route["metadata"]["generation"] = 2
        gateway = objects.load("gateway-leadgen.json")
        gateway["metadata"]["generation"] = 5
        kube.on("get", "httproutes.gateway.networking.k8s.io", json_out=objects.as_list([route]))
        kube.on("get", "gateways.gateway.networking.k8s.io", json_out=objects.as_list([gateway]))
        result = run("health-check", "dev", "--json")
        assert result.exit_code == 1
        checks = {c["category"]: c for c in payload(result)["checks"] if c["category"] in ("Gateway", "HTTPRoute")}
        assert checks["Gateway"]["status"] == checks["HTTPRoute"]["status"] == "fail"
        assert "not reconciled (reported for generation 1, the spec is generation 5)" in checks["Gateway"]["detail"]
        assert "not reconciled (reported for generation 1, the spec is generation 2)" in checks["HTTPRoute"]["detail"]

    def test_it_renders_without_a_cluster_and_needs_the_overlay(self, run: Run, kube: FakeKube, tmp_path: Path) -> None:
        kube.healthy()
        assert run("health-check", "dev").exit_code == 0
        assert "context" not in kube.first("kustomize")
        result = run("health-check", "dev", "--overlays-dir", str(tmp_path))
        assert result.exit_code == 2
        assert "not found" in result.stderr and "--overlays-dir" in result.stderr

    def test_a_render_it_cannot_read_stops_it(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("kustomize", stdout="apiVersion: v1\nkind: Service\n")
        result = run("health-check", "dev")
        assert result.exit_code == 2
        assert "cannot be read: (document 1) needs apiVersion, kind and metadata.name" in result.stderr
        assert not kube.ran("get", "deployments")


def exec_calls(kube: FakeKube) -> list[list[str]]:
    return [c for c in kube.commands() if c[0] == "exec"]


class TestDeep:
    def test_readiness_from_what_the_cluster_knows(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        result = run("health-check", "dev", "--deep", "--json")
        assert result.exit_code == 0
        got = statuses(payload(result))
        for name in contract.DEPLOYMENTS:
            assert got[("Readiness", name)] == "pass"
            assert got[("Readyz", name)] == "pass"
        details = {(c["category"], c["name"]): c["detail"] for c in payload(result)["checks"]}
        assert details[("Readiness", "api")] == "2/2 pods Ready, 2 ready endpoint(s)"
        assert details[("Readiness", "worker")] == "2/2 pods Ready"  # no traffic, no endpoints needed
        assert details[("Readyz", "api")] == "api-7d9c6b8f5d-p0x2q0: db ok, redis ok"
        # Never through the API server's service proxy: the NetworkPolicies drop that.
        assert not kube.ran("get", "--raw")
        # Each list is read once, though the standard and the deep checks both use it.
        gets = [c[1] for c in kube.commands() if c[0] == "get"]
        assert gets.count("deployments") == gets.count("endpointslices") == gets.count("pods") == 1

    def test_readyz_is_asked_inside_one_ready_pod_on_loopback(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        pods = objects.healthy(Environment.DEV)["pods"]
        not_ready = objects.pod("api", "aaaaa")
        next(c for c in not_ready["status"]["conditions"] if c["type"] == "Ready")["status"] = "False"
        pods["items"].insert(0, not_ready)
        kube.on("get", "pods", json_out=pods)
        run("health-check", "dev", "--deep")
        calls = exec_calls(kube)
        assert [c[1] for c in calls] == [
            "api-7d9c6b8f5d-p0x2q0", "data-service-7d9c6b8f5d-p1x2q0", "orchestrator-7d9c6b8f5d-p2x2q0",
            "backend-7d9c6b8f5d-p3x2q0", "worker-7d9c6b8f5d-p4x2q0", "scheduler-7d9c6b8f5d-p5x2q0",
            "frontend-7d9c6b8f5d-p6x2q0",
        ]  # fmt: skip
        assert calls[0][2:7] == ["--container", "api", "--", "python", "-c"]
        assert "http://127.0.0.1:9090/readyz" in calls[0][7]

    def test_deep_failures_and_warnings(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        unavailable = '{"status":"unavailable","checks":{"db":"ok","redis":"down: TimeoutError"}}'
        kube.on("exec", "orchestrator-7d9c6b8f5d-p2x2q0", stdout=readyz_answer(503, unavailable))
        pods = objects.healthy(Environment.DEV)["pods"]["items"]
        pods = [p for p in pods if not p["metadata"]["name"].startswith(("worker-", "backend-"))]
        pods += [
            objects.load("pod-api-crashloop.json"),
            objects.load("pod-worker-oomkilled.json"),
            objects.load("pod-orchestrator-pending.json"),
        ]
        kube.on("get", "pods", json_out=objects.as_list(pods))
        slices = objects.healthy(Environment.DEV)["endpointslices"]
        slices["items"][1] = objects.endpointslice("data-service", ready=False)
        slices["items"][3] = objects.endpointslice("backend", ready=False)
        kube.on("get", "endpointslices", json_out=slices)
        soon = objects.load("certificate-leadgen-tls.json")
        soon["status"]["notAfter"] = "2026-11-29T12:00:00Z"
        late = copy.deepcopy(soon)
        late["metadata"]["name"] = "api-tls"
        late["status"]["notAfter"] = "2026-12-10T12:00:00Z"
        kube.on("get", "certificates.cert-manager.io", json_out=objects.as_list([soon, late]))
        result = run("health-check", "dev", "--deep", "--json")
        assert result.exit_code == 1
        doc = payload(result)
        got = statuses(doc)
        assert got[("Readiness", "api")] == "pass"  # 2/2 Ready; the crashing pod is a surplus one
        assert got[("Readiness", "data-service")] == "fail"  # pods Ready, but no ready endpoint
        assert got[("Readiness", "backend")] == "fail"  # no pod at all
        assert got[("Readiness", "worker")] == "warn"  # 1 of 2 pods Ready (the other was OOM-killed)
        assert got[("Readyz", "orchestrator")] == "fail"
        assert got[("Readyz", "api")] == "pass"
        assert ("Readyz", "backend") not in got  # no Ready pod to ask
        assert got[("Pod", "api-7d9c6b8f5d-p0x2q0")] == "pass"
        assert got[("Pod", "api-5f8d7c9b4-7wzlm")] == "fail"
        assert got[("Pod", "worker-58b6d4c7f9-m4n2d")] == "warn"
        assert got[("Pod", "orchestrator-7f6e5d4c3b-hh8zs")] == "fail"
        assert got[("Certificate", "leadgen-tls")] == "fail"
        assert got[("Certificate", "api-tls")] == "warn"
        details = {(c["category"], c["name"]): c["detail"] for c in doc["checks"]}
        assert details[("Readiness", "data-service")] == (
            "the Service has no ready endpoint; 2/2 pods Ready, 0 ready endpoint(s)"
        )
        assert details[("Readiness", "backend")] == "no pod is Ready; 0/2 pods Ready, 0 ready endpoint(s)"
        assert details[("Readiness", "worker")] == "1/2 pods Ready"
        assert details[("Readyz", "orchestrator")] == (
            "orchestrator-7d9c6b8f5d-p2x2q0: HTTP 503 db ok, redis down: TimeoutError"
        )
        assert details[("Pod", "worker-58b6d4c7f9-m4n2d")] == "3 restart(s), last exit OOMKilled (code 137)"
        assert details[("Pod", "orchestrator-7f6e5d4c3b-hh8zs")].startswith(
            "Pending 20m: Unschedulable 0/3 nodes are available"
        )
        assert (
            "CrashLoopBackOff (container api) last exit Error 7 restart(s)" in details[("Pod", "api-5f8d7c9b4-7wzlm")]
        )
        assert details[("Certificate", "leadgen-tls")] == "expires 2026-11-29T12:00:00Z (4 days)"

    def test_no_permission_to_exec_is_a_warning(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("exec", exit=1, stderr=(
            'Error from server (Forbidden): pods "api-7d9c6b8f5d-p0x2q0" is forbidden: User "ci" cannot '
            'create resource "pods/exec" in API group "" in the namespace "leadgen-dev"\n'
        ))  # fmt: skip
        doc = payload(run("health-check", "dev", "--deep", "--json"))
        assert doc["ok"] is True
        readyz = [c for c in doc["checks"] if c["category"] == "Readyz"]
        assert {c["status"] for c in readyz} == {"warn"}
        assert readyz[0]["detail"] == "api-7d9c6b8f5d-p0x2q0: not asked, no permission to exec into pods (pods/exec)"
        assert {c["status"] for c in doc["checks"] if c["category"] == "Readiness"} == {"pass"}

    def test_image_without_python_is_a_warning(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        kube.on("exec", exit=1, stderr=(
            'error: Internal error occurred: error executing command in container: failed to exec in container: '
            'exec: "python": executable file not found in $PATH\n'
        ))  # fmt: skip
        doc = payload(run("health-check", "dev", "--deep", "--json"))
        readyz = next(c for c in doc["checks"] if c["category"] == "Readyz")
        assert readyz["status"] == "warn" and "executable file not found" in readyz["detail"]

    def test_table_for_people(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        pods = objects.healthy(Environment.DEV)["pods"]
        pods["items"].append(objects.load("pod-orchestrator-pending.json"))
        kube.on("get", "pods", json_out=pods)
        result = run("health-check", "dev", "--deep", "--pending-grace", "3600")
        assert result.exit_code == 0, result.stdout  # pending 20 minutes, grace one hour: a warning
        assert "│ Pod         │ orchestrator-7f6e5d4c3b-hh8zs  │ WARN   │ Pending 20m: Unschedulable" in result.stdout
        assert "│ Readiness   │ api                            │ PASS   │ 2/2 pods Ready, 2 ready endpoint(s)" in (
            result.stdout
        )

    def test_certificate_thresholds_are_options(self, run: Run, kube: FakeKube) -> None:
        kube.healthy()
        doc = payload(run("health-check", "dev", "--deep", "--json", "--cert-warn-days", "90"))
        assert statuses(doc)[("Certificate", "leadgen-tls")] == "warn"


def ask_readyz(port: int) -> dict[str, Any]:
    """Run the in-pod script here, as ``kubectl exec`` runs it in a pod."""
    script = healthcheck.readyz_script(port)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30)
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


class TestInPodScript:
    """The script ``--deep`` runs inside a pod, against the app's real ops port (no cluster)."""

    def test_reads_the_ops_app_readyz(self) -> None:
        from leadgen.core.health import Health
        from leadgen.core.server import ops_app

        state = Health()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(ops_app(state), host="127.0.0.1", port=port, log_config=None))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            starting = health.check_pod_readyz("api", "api-0", ask_readyz(port), None)
            assert (starting.status, starting.detail) == (Status.FAIL, "api-0: HTTP 503 process starting")
            state.started = True
            assert health.check_pod_readyz("api", "api-0", ask_readyz(port), None).status is Status.PASS
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        closed = health.check_pod_readyz("api", "api-0", ask_readyz(port), None)
        assert closed.status is Status.FAIL and "no answer on its ops port" in closed.detail
