"""The pure decisions: kubectl JSON in, states, problems, plans and checks out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import RuleError
from leadgen.ops.rules import health, history, hpa, manifests, orphans, release, workloads
from leadgen.ops.rules.health import Status, Thresholds
from leadgen.ops.rules.manifests import Resource
from tests.k8s.render import render_text
from tests.ops.test_manifests import DEPLOYED_BY_THE_DEPLOYER

from . import objects

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class TestDeploymentState:
    def test_ready(self) -> None:
        state = workloads.deployment_state(objects.load("deployment-api.json"))
        assert (state.state, state.message) == ("ready", "2/2 available")

    def test_progress_deadline_exceeded_is_failed(self) -> None:
        state = workloads.deployment_state(objects.load("deployment-api-progress-deadline.json"))
        assert state.state == "failed"
        assert state.message == 'ReplicaSet "api-5f8d7c9b4" has timed out progressing.'

    def test_spec_not_observed_yet(self) -> None:
        dep = objects.load("deployment-api.json")
        dep["metadata"]["generation"] = 7
        assert workloads.deployment_state(dep).message == "waiting for the controller to see the new spec"

    @pytest.mark.parametrize(
        ("status", "message"),
        [
            ({"updatedReplicas": 1, "replicas": 3, "availableReplicas": 2}, "1 of 2 replicas updated"),
            ({"updatedReplicas": 2, "replicas": 3, "availableReplicas": 2}, "1 old replicas still terminating"),
            ({"updatedReplicas": 2, "replicas": 2, "availableReplicas": 1}, "1 of 2 updated replicas available"),
        ],
    )
    def test_rolling(self, status: dict[str, int], message: str) -> None:
        dep = objects.load("deployment-api.json")
        dep["status"].update(status)
        state = workloads.deployment_state(dep)
        assert (state.state, state.message) == ("progressing", message)


class TestOtherWorkloads:
    def test_statefulset_rolling_and_ready(self) -> None:
        sts = objects.load("statefulset-redis.json")
        assert workloads.statefulset_state(sts).state == "ready"
        sts["status"]["updateRevision"] = "redis-7a9b8c"
        assert workloads.statefulset_state(sts).message == "1 of 1 pods on the new revision"

    def test_cnpg_cluster(self) -> None:
        cluster = objects.load("cnpg-cluster-postgres.json")
        assert workloads.cnpg_cluster_state(cluster).state == "ready"
        cluster["status"]["phase"] = "Cluster is unrecoverable"
        cluster["status"]["conditions"][0]["status"] = "False"
        assert workloads.cnpg_cluster_state(cluster).state == "failed"

    @pytest.mark.parametrize(
        ("fixture", "expected"),
        [
            ("job-db-migrate-complete.json", ("complete", "completed")),
            ("job-db-migrate-running.json", ("running", "1 running")),
            (
                "job-db-migrate-failed.json",
                ("failed", "BackoffLimitExceeded: Job has reached the specified backoff limit"),
            ),
        ],
    )
    def test_job(self, fixture: str, expected: tuple[str, str]) -> None:
        assert workloads.job_state(objects.load(fixture)) == expected


class TestPodProblems:
    def test_healthy_pod_has_none(self) -> None:
        assert workloads.pod_problems(objects.load("pod-api.json")) == []

    def test_crash_loop(self) -> None:
        [p] = workloads.pod_problems(objects.load("pod-api-crashloop.json"))
        assert (p.reason, p.container, p.restarts, p.exit_code, p.last_termination) == (
            "CrashLoopBackOff", "api", 7, 1, "Error",
        )  # fmt: skip

    def test_image_pull(self) -> None:
        [p] = workloads.pod_problems(objects.load("pod-api-imagepull.json"))
        assert p.reason == "ImagePullBackOff" and "not found" in p.message

    def test_unschedulable(self) -> None:
        [p] = workloads.pod_problems(objects.load("pod-orchestrator-pending.json"))
        assert p.reason == "Unschedulable" and p.message.startswith("0/3 nodes are available")

    def test_oom_killed_then_restarted_is_not_a_current_problem(self) -> None:
        assert workloads.pod_problems(objects.load("pod-worker-oomkilled.json")) == []

    def test_oom_killed_crash_loop_says_so(self) -> None:
        pod = objects.load("pod-worker-oomkilled.json")
        status = pod["status"]["containerStatuses"][0]
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
        [p] = workloads.pod_problems(pod)
        assert p.last_termination == "OOMKilled" and p.message == "back-off 40s (last exit: OOMKilled)"

    def test_failed_job_pod(self) -> None:
        [p] = workloads.pod_problems(objects.load("pod-db-migrate-failed.json"))
        assert (p.reason, p.exit_code) == ("Error", 1)

    def test_worst_problem_prefers_the_broken_pod(self) -> None:
        pods = [objects.load(f) for f in ("pod-api.json", "pod-orchestrator-pending.json", "pod-api-crashloop.json")]
        worst = workloads.worst_problem(pods)
        assert worst is not None and worst.pod == "api-5f8d7c9b4-7wzlm"
        assert workloads.worst_problem([objects.load("pod-api.json")]) is None


class TestEvents:
    def test_sorted_oldest_first_and_limited(self) -> None:
        listed = objects.load("events-api-crashloop.json")
        listed["items"].reverse()
        lines = workloads.events(listed, limit=2)
        assert [(e.reason, e.count) for e in lines] == [("Started", 8), ("BackOff", 36)]
        assert lines[-1].object == "Pod/api-5f8d7c9b4-7wzlm" and lines[-1].type == "Warning"

    def test_warnings_first_and_kept_over_newer_normal_events(self) -> None:
        def event(when: str, kind: str, reason: str) -> dict[str, object]:
            return {
                "lastTimestamp": when,
                "type": kind,
                "reason": reason,
                "involvedObject": {"kind": "Pod", "name": "p"},
            }

        listed = objects.as_list([
            event("2026-11-25T11:00:00Z", "Warning", "BackOff"),
            event("2026-11-25T11:01:00Z", "Normal", "Pulled"),
            event("2026-11-25T11:02:00Z", "Warning", "Unhealthy"),
            event("2026-11-25T11:03:00Z", "Normal", "Started"),
            event("2026-11-25T11:04:00Z", "Normal", "Created"),
        ])  # fmt: skip
        reasons = [e.reason for e in workloads.events(listed, limit=3, warnings_first=True)]
        assert reasons == ["BackOff", "Unhealthy", "Created"]
        assert [e.reason for e in workloads.events(listed, limit=3)] == ["Unhealthy", "Started", "Created"]
        assert [e.reason for e in workloads.events(listed, limit=1, warnings_first=True)] == ["Unhealthy"]

    def test_events_v1_series_and_event_time(self) -> None:
        listed = objects.as_list([{"eventTime": "2026-11-25T11:00:00.000000Z", "series": {"count": 4},
                                   "reason": "FailedScheduling", "type": "Warning", "message": "0/3 nodes",
                                   "involvedObject": {"kind": "Pod", "name": "p"}}])  # fmt: skip
        [line] = workloads.events(listed)
        assert (line.last_seen, line.count) == ("2026-11-25T11:00:00.000000Z", 4)

    def test_age(self) -> None:
        assert workloads.age("2026-11-25T11:59:15Z", NOW) == "45s"
        assert workloads.age("2026-11-20T12:00:00Z", NOW) == "5d"
        assert workloads.age(None, NOW) == "?"


class TestScalePlan:
    def test_within_bounds_warns_the_hpa_overrides(self) -> None:
        plan = hpa.plan_scale("api", 5, objects.load("deployment-api.json"), objects.load("hpa-api.json"))
        assert plan.ok and plan.current == 2
        assert plan.warnings == (
            "HPA api manages the replica count within [2, 10]: it will override this change at its next sync",
        )
        assert (plan.suggested_min, plan.suggested_max) == (5, 10)

    def test_outside_bounds(self) -> None:
        plan = hpa.plan_scale("api", 1, objects.load("deployment-api.json"), objects.load("hpa-api.json"))
        assert "outside the HPA bounds [2, 10]" in plan.warnings[0]

    def test_no_hpa(self) -> None:
        plan = hpa.plan_scale("worker", 2, objects.deployment("worker"), None)
        assert plan.ok and plan.warnings == ("worker already has 2 replica(s)",) and plan.hpa is None

    def test_refusals(self) -> None:
        scheduler = objects.deployment("scheduler", 1)
        assert not hpa.plan_scale("scheduler", 3, scheduler, None).ok
        assert hpa.plan_scale("scheduler", 1, scheduler, None).ok
        assert hpa.plan_scale("worker", 0, objects.deployment("worker"), None).warnings == (
            "scaling worker to 0 stops it serving entirely",
        )

    def test_hpa_status(self) -> None:
        status = hpa.hpa_status(objects.load("hpa-api.json"))
        assert (status.min_replicas, status.max_replicas, status.current_replicas) == (2, 10, 2)
        assert [(m.name, m.current, m.target) for m in status.metrics] == [
            ("cpu", "23%", "70%"), ("memory", "41%", "80%"),
        ]  # fmt: skip
        assert status.conditions[2][:3] == ("ScalingLimited", "False", "DesiredWithinRange")


class TestHistory:
    def test_parse(self) -> None:
        assert history.parse_history(objects.text("rollout-history-api.txt")) == [
            (2, None), (3, "release 1.4.1"), (4, "release 1.4.2"),
        ]  # fmt: skip

    def test_joined_with_replica_sets(self) -> None:
        revs = history.revisions(
            objects.text("rollout-history-api.txt"),
            objects.load("replicasets-api.json"),
            objects.load("deployment-api.json"),
        )
        assert [(r.number, r.images, r.current) for r in revs] == [
            (2, ("ghcr.io/leadgen/leadgen:1.4.0",), False),
            (3, ("ghcr.io/leadgen/leadgen:1.4.1",), False),
            (4, ("ghcr.io/leadgen/leadgen:1.4.2",), True),
        ]

    def test_replica_sets_of_another_deployment_are_ignored(self) -> None:
        other = objects.load("deployment-api.json")
        other["metadata"]["uid"] = "another"
        revs = history.revisions(objects.text("rollout-history-api.txt"), objects.load("replicasets-api.json"), other)
        assert all(r.images == () for r in revs)

    @pytest.mark.parametrize(("wanted", "target"), [(None, 3), (2, 2), (3, 3)])
    def test_target(self, wanted: int | None, target: int) -> None:
        revs = history.revisions(
            objects.text("rollout-history-api.txt"),
            objects.load("replicasets-api.json"),
            objects.load("deployment-api.json"),
        )
        assert history.rollback_target(revs, wanted) == target

    def test_default_target_passes_over_revisions_of_the_same_release(self) -> None:
        old = history.Revision(3, None, ("app:1.4.0",), release="1.4.0+a")
        new = history.Revision(4, None, ("app:1.5.0",), release="1.5.0+b")
        restarted = history.Revision(5, None, ("app:1.5.0",), release="1.5.0+b", current=True)
        assert history.rollback_target([old, new, restarted], None) == 3
        assert history.rollback_target([old, new, restarted], 4) == 4
        # Unstamped revisions (deployed before releases were recorded) compare by their images.
        images = [
            history.Revision(n, None, (image,), current=n == 3) for n, image in ((1, "a:1"), (2, "a:2"), (3, "a:2"))
        ]
        assert history.rollback_target(images, None) == 1
        # Same release, other images (`kubectl set image`): going back undoes that.
        edited = history.Revision(6, None, ("app:hotfix",), release="1.5.0+b", current=True)
        assert history.rollback_target([old, new, edited], None) == 4

    def test_target_refusals(self) -> None:
        only = [history.Revision(1, None, current=True)]
        with pytest.raises(RuleError, match="only revision kept"):
            history.rollback_target(only, None)
        with pytest.raises(RuleError, match="never rolled out"):
            history.rollback_target([], None)
        with pytest.raises(RuleError, match="already the current revision"):
            history.rollback_target(only, 1)


class TestOrphanRules:
    def resources(self) -> list[Resource]:
        return [
            Resource("apps/v1", "Deployment", "api", "leadgen-dev", {}),
            Resource("v1", "ConfigMap", "api-config-76fccckm7d", "leadgen-dev", {}),
            Resource("v1", "Namespace", "leadgen-dev", None, {}),
            Resource("batch/v1", "Job", "db-migrate", "leadgen-dev", {}),
            Resource("autoscaling/v2", "HorizontalPodAutoscaler", "api", "leadgen-dev", {}),
        ]

    def test_looks_for_the_namespaced_kinds_the_render_applies(self) -> None:
        assert orphans.resource_types(self.resources()) == ["deployment.apps", "horizontalpodautoscaler.autoscaling"]

    def test_left_behind(self) -> None:
        def obj(api_version: str, kind: str, name: str, **meta: Any) -> dict[str, Any]:
            return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **meta}}

        listed = [
            obj("apps/v1", "Deployment", "api"),
            obj("apps/v1", "Deployment", "quote-api"),
            obj("autoscaling/v2", "HorizontalPodAutoscaler", "worker"),
            # an earlier release's generated ConfigMap: a ReplicaSet rollback may return to mounts it
            obj("v1", "ConfigMap", "api-config-5b242ggh4h"),
            obj("v1", "PersistentVolumeClaim", "data-redis-0"),
            obj("apps/v1", "ReplicaSet", "api-7d9c6b8f5d", ownerReferences=[{"kind": "Deployment", "name": "api"}]),
        ]
        assert orphans.left_behind(listed, self.resources()) == [
            "deployment.apps/quote-api",
            "horizontalpodautoscaler.autoscaling/worker",
        ]


# What an overlay stops rendering that deploy must then report: a route, a policy, RBAC (each a
# kind the overlay still renders other objects of, so deploy still lists that kind).
DROPPED = {
    ("HTTPRoute", "api"): "httproute.gateway.networking.k8s.io/api",
    ("NetworkPolicy", "api"): "networkpolicy.networking.k8s.io/api",
    ("RoleBinding", "leadgen-viewers"): "rolebinding.rbac.authorization.k8s.io/leadgen-viewers",
    ("ExternalSecret", "leadgen-llm-client"): "externalsecret.external-secrets.io/leadgen-llm-client",
}


@pytest.mark.parametrize("target", DEPLOYED_BY_THE_DEPLOYER)
def test_what_an_overlay_stops_rendering_is_reported(target: str) -> None:
    """The cluster holds what the committed render applied; the next render lacks some of it.
    deploy lists the labelled objects of the kinds the new render applies (``kubectl get
    --selector app.kubernetes.io/part-of=leadgen TYPES``, answered here as the API server would),
    and each object dropped must come back as left behind."""
    applied = [d for d in yaml.safe_load_all(render_text(target)) if d]
    rendered, problems = manifests.parse(render_text(target))
    assert not problems
    dropped = {key: ref for key, ref in DROPPED.items() if any((r.kind, r.name) == key for r in rendered)}
    assert len(dropped) >= 2, f"{target} renders too few of {list(DROPPED)}"
    remaining = [r for r in rendered if (r.kind, r.name) not in dropped]
    types = set(orphans.resource_types(remaining))
    listed = [
        obj
        for obj in applied
        if orphans.resource_type(obj["kind"], obj["apiVersion"]) in types
        and (obj["metadata"].get("labels") or {}).get(contract.PART_OF_LABEL) == contract.PART_OF
    ]
    assert orphans.left_behind(listed, remaining) == sorted(dropped.values())


class TestHealthRules:
    def test_exit_code(self) -> None:
        ok = health.Check("Pod", "q", Status.PASS, "")
        warn = health.Check("Pod", "p", Status.WARN, "")
        fail = health.Check("Pod", "p", Status.FAIL, "")
        assert health.exit_code([ok, warn]) == 0 and health.exit_code([ok, warn, fail]) == 1

    def test_a_check_in_which_nothing_passed_vouches_for_nothing(self) -> None:
        warn = health.Check("Pod", "p", Status.WARN, "")
        assert health.exit_code([warn]) == 1 and health.exit_code([]) == 1

    def test_an_unreadable_core_list_fails_and_any_other_warns(self) -> None:
        for category in ("Deployment", "StatefulSet", "Service"):
            check = health.unavailable(category, "no permission to read it")
            assert check.status is Status.FAIL
            assert check.detail == "no permission to read it, so its health is unknown"
        assert health.unavailable("Node", "no permission to read it").status is Status.WARN
        assert health.unavailable("Gateway", "resource type not installed").status is Status.WARN

    def test_no_ready_replica_at_all_fails_even_while_progressing(self) -> None:
        dep = objects.load("deployment-api.json")
        dep["status"].update(availableReplicas=0, updatedReplicas=0)
        [check] = health.check_deployments(objects.as_list([dep]), ["api"])
        assert check.status is Status.FAIL

    def test_service_without_selector_passes(self) -> None:
        svc = objects.service("external-db", 5432)
        del svc["spec"]["selector"]
        [check] = health.check_services(objects.as_list([svc]), objects.as_list([]), ["external-db"])
        assert check.status is Status.PASS

    def test_expected_edge_objects_that_are_gone_fail(self) -> None:
        """An edge deleted by hand must not leave nothing to check, and so a pass."""
        empty = objects.as_list([])
        checks = [
            *health.check_services(empty, empty, ["api"]),
            *health.check_gateways(empty, ["leadgen"]),
            *health.check_httproutes(empty, ["api", "frontend"]),
        ]
        assert [(c.category, c.name, c.status, c.detail) for c in checks] == [
            ("Service", "api", Status.FAIL, "not found"),
            ("Gateway", "leadgen", Status.FAIL, "not found"),
            ("HTTPRoute", "api", Status.FAIL, "not found"),
            ("HTTPRoute", "frontend", Status.FAIL, "not found"),
        ]

    def test_gateway_not_programmed(self) -> None:
        gw = objects.load("gateway-leadgen.json")
        gw["status"]["conditions"][1].update(status="False", reason="AddressNotAssigned", message="No addresses")
        [check] = health.check_gateways(objects.as_list([gw]), ["leadgen"])
        assert check.status is Status.FAIL and "Programmed=False AddressNotAssigned" in check.detail

    def test_a_status_of_an_older_spec_is_not_counted(self) -> None:
        """The spec changed (generation 2); the controller's True conditions are about generation 1."""
        gw = objects.load("gateway-leadgen.json")
        gw["metadata"]["generation"] = 2
        route = objects.load("httproute-api.json")
        route["metadata"]["generation"] = 2
        [gateway] = health.check_gateways(objects.as_list([gw]), ["leadgen"])
        [attached] = health.check_httproutes(objects.as_list([route]), ["api"])
        assert gateway.status is Status.FAIL and attached.status is Status.FAIL
        assert gateway.detail.startswith(
            "Accepted not reconciled (reported for generation 1, the spec is generation 2); Programmed not reconciled"
        )
        assert attached.detail.startswith("leadgen: Accepted not reconciled (reported for generation 1")
        assert not health.reconciled(gw) and not health.reconciled(route)

    def test_a_verdict_on_the_current_spec_is_reconciled(self) -> None:
        route = objects.load("httproute-api.json")
        route["status"]["parents"][0]["conditions"][1].update(status="False", reason="BackendNotFound")
        assert health.reconciled(route) and health.reconciled(objects.load("gateway-leadgen.json"))
        del route["status"]
        assert not health.reconciled(route)

    def test_node_pressure_warns(self) -> None:
        node = objects.load("node-ready.json")
        node["status"]["conditions"][1]["status"] = "True"
        [check] = health.check_nodes(objects.as_list([node]))
        assert (check.status, check.detail) == (Status.WARN, "Ready, but DiskPressure")

    @pytest.mark.parametrize(
        ("not_after", "status"),
        [
            ("2027-01-31T08:14:30Z", Status.PASS),
            ("2026-12-10T00:00:00Z", Status.WARN),
            ("2026-11-30T00:00:00Z", Status.FAIL),
        ],
    )
    def test_certificate_expiry(self, not_after: str, status: Status) -> None:
        cert = objects.load("certificate-leadgen-tls.json")
        cert["status"]["notAfter"] = not_after
        [check] = health.check_certificates(objects.as_list([cert]), NOW, Thresholds())
        assert check.status is status

    def test_certificate_not_issued(self) -> None:
        cert = objects.load("certificate-leadgen-tls.json")
        cert["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "DoesNotExist",
                                          "message": "Issuing certificate as Secret does not exist"}]}  # fmt: skip
        [check] = health.check_certificates(objects.as_list([cert]), NOW, Thresholds())
        assert check.status is Status.FAIL and "Secret does not exist" in check.detail

    def test_pending_within_grace_warns(self) -> None:
        pods = objects.as_list([objects.load("pod-orchestrator-pending.json")])
        [check] = health.check_pods(pods, NOW, Thresholds(pending_grace=timedelta(hours=1)))
        assert check.status is Status.WARN
        [check] = health.check_pods(pods, NOW, Thresholds())
        assert check.status is Status.FAIL


class TestReadinessRules:
    def judge(self, pods: list[dict[str, Any]], ready_endpoints: bool = True, name: str = "api") -> health.Check:
        dep = objects.deployment(name)
        slices = objects.as_list([objects.endpointslice(name, ready=ready_endpoints)])
        [check] = health.check_readiness(objects.as_list([dep]), objects.as_list(pods), slices, [name], {"api"})
        return check

    def test_ready_pods_and_endpoints_pass(self) -> None:
        check = self.judge([objects.pod("api", "a"), objects.pod("api", "b")])
        assert (check.status, check.detail) == (Status.PASS, "2/2 pods Ready, 2 ready endpoint(s)")

    def test_terminating_pods_do_not_count(self) -> None:
        leaving = objects.pod("api", "b")
        leaving["metadata"]["deletionTimestamp"] = "2026-11-25T11:59:00Z"
        check = self.judge([objects.pod("api", "a"), leaving])
        assert (check.status, check.detail) == (Status.WARN, "1/2 pods Ready, 2 ready endpoint(s)")

    def test_no_ready_pod_fails(self) -> None:
        assert self.judge([]).status is Status.FAIL

    def test_no_ready_endpoint_fails_a_routed_service(self) -> None:
        check = self.judge([objects.pod("api", "a"), objects.pod("api", "b")], ready_endpoints=False)
        assert check.status is Status.FAIL and check.detail.startswith("the Service has no ready endpoint")

    def test_background_services_need_no_endpoints(self) -> None:
        check = self.judge([objects.pod("worker", "a"), objects.pod("worker", "b")], False, "worker")
        assert (check.status, check.detail) == (Status.PASS, "2/2 pods Ready")

    @pytest.mark.parametrize(
        ("answer", "error", "status", "detail"),
        [
            ({"status": 200, "body": '{"status":"ok","checks":{"db":"ok"}}'}, None, Status.PASS, "p: db ok"),
            ({"status": 503, "body": '{"status":"unavailable","checks":{"process":"draining"}}'}, None,
             Status.FAIL, "p: HTTP 503 process draining"),
            ({"status": None, "body": "<urlopen error [Errno 111] Connection refused>"}, None, Status.FAIL,
             "p: no answer on its ops port: <urlopen error [Errno 111] Connection refused>"),
            (None, "no permission to exec into pods (pods/exec)", Status.WARN,
             "p: not asked, no permission to exec into pods (pods/exec)"),
        ],
    )  # fmt: skip
    def test_in_pod_readyz(self, answer: dict[str, Any] | None, error: str | None, status: Status, detail: str) -> None:
        check = health.check_pod_readyz("api", "p", answer, error)
        assert (check.category, check.status, check.detail) == ("Readyz", status, detail)


def stamped_revisions(*releases: str | None, heads: dict[str, str] | None = None) -> list[history.Revision]:
    heads = heads or {}
    last = len(releases)
    return [
        history.Revision(n, None, current=n == last, release=r, schema_head=heads.get(r or ""))
        for n, r in enumerate(releases, start=1)
    ]


class TestReleases:
    def resources(self) -> list[Resource]:
        resources, _ = manifests.parse(objects.rendered(Environment.PROD))
        return resources

    def test_name_is_the_image_tag_and_a_fingerprint(self) -> None:
        name = release.release_name(self.resources(), "20261125_0042")
        assert name.startswith("1.5.0+") and len(name.split("+")[1]) == 10
        assert release.release_name(self.resources(), "20261125_0042") == name
        assert release.release_name(self.resources(), "20261126_0043") != name

    def test_stamp_touches_only_app_pod_templates_and_the_job(self) -> None:
        resources = self.resources()
        stamped = release.stamp(resources, "1.5.0+abc", None)
        annotated = {
            r.ref
            for r in stamped
            if (r.body.get("spec", {}).get("template", {}).get("metadata") or {}).get("annotations")
        }
        expected = {f"Deployment/{d}" for d in contract.DEPLOYMENTS} | {"Job/db-migrate"}
        assert annotated == expected
        assert all("annotations" not in (r.body["spec"]["template"].get("metadata") or {})
                   for r in resources if r.kind == "Deployment")  # fmt: skip  # the input is left as it was

    def test_image_tag(self) -> None:
        assert release.image_tag(f"ghcr.io/leadgen/leadgen:1.5.0@{objects.DIGEST}") == "1.5.0"
        assert release.image_tag("registry.local:5000/leadgen") is None

    def test_previous_release_and_its_revisions(self) -> None:
        histories = {
            "api": stamped_revisions("v1", "v2", "v3", "v3"),
            "worker": stamped_revisions("v1", "v2", "v2", "v3"),
        }
        plan = release.release_rollback(histories, None)
        assert (plan.current, plan.target, plan.revisions) == ("v3", "v2", {"api": 2, "worker": 3})

    def test_a_short_history_does_not_decide_the_previous_release(self) -> None:
        histories = {"api": stamped_revisions("v1", "v2", "v3"), "scheduler": stamped_revisions("v1", "v3")}
        assert release.previous_release(histories) == "v2"
        with pytest.raises(RuleError, match="no revision of release v2 is kept for scheduler"):
            release.release_rollback(histories, None)

    def test_refusals(self) -> None:
        with pytest.raises(RuleError, match="run different releases"):
            release.previous_release({"api": stamped_revisions("v1", "v2"), "worker": stamped_revisions("v1")})
        with pytest.raises(RuleError, match=r"carries no leadgen\.io/release"):
            release.previous_release({"api": stamped_revisions("v1", None)})
        with pytest.raises(RuleError, match="nothing to roll back to"):
            release.previous_release({"api": stamped_revisions("v1")})

    def test_a_release_first_rolled_out_after_the_running_one_is_newer(self) -> None:
        def rolled_back(v3_created: str | None) -> list[history.Revision]:
            # v3 went back to v2: v2's ReplicaSet, made before v3's, is now revision 3.
            return [
                history.Revision(2, None, created=v3_created, release="v3"),
                history.Revision(3, None, created="2026-11-15T09:00:00Z", current=True, release="v2"),
            ]

        assert release.release_rollback({"api": rolled_back("2026-11-20T09:00:00Z")}, "v3").newer
        assert not release.release_rollback({"api": rolled_back("2026-11-10T09:00:00Z")}, "v3").newer
        # A time unknown, or Deployments that disagree: taken for a rollback, the frontend first.
        assert not release.release_rollback({"api": rolled_back(None)}, "v3").newer
        disagree = {"api": rolled_back("2026-11-20T09:00:00Z"), "worker": rolled_back("2026-11-10T09:00:00Z")}
        assert not release.release_rollback(disagree, "v3").newer

    def test_schema_note(self) -> None:
        heads = {"v1": "0030", "v2": "0038"}
        current, target = stamped_revisions("v1", "v2", heads=heads)[::-1]
        note = release.schema_note(current, target)
        assert note.startswith("Migrations are not rolled back: the database stays at Alembic head 0038 (v2).")
        assert "`leadgen db downgrade 0030`" in note
        unknown = release.schema_note(history.Revision(4, None, current=True), history.Revision(3, None))
        assert "did not record its Alembic head" in unknown and "revision 3 must run on the newer schema" in unknown
        forward = release.schema_note(target, current, newer=True)
        assert forward.startswith("Rollback runs no migration: v2 was deployed at Alembic head 0038")
        assert "`leadgen db upgrade`" in forward and "downgrade 0038" not in forward


class TestScaleFloor:
    def test_hpa_change_below_the_floor_is_not_allowed(self) -> None:
        args = ("api", objects.load("deployment-api.json"), objects.load("hpa-api.json"))
        assert not hpa.plan_scale(args[0], 2, args[1], args[2], floor=3).hpa_change_allowed
        assert hpa.plan_scale(args[0], 3, args[1], args[2], floor=3).hpa_change_allowed
        assert not hpa.plan_scale("worker", 3, objects.deployment("worker"), None, floor=3).hpa_change_allowed
