"""``leadgen k8s rollback``: history, target revision, rollout, verification."""

from __future__ import annotations

from leadgen.ops import contract
from leadgen.ops.contract import Environment

from . import objects
from .conftest import FakeKube, Run, payload

API_SELECTOR = contract.selector_for("api")


def with_api_history(kube: FakeKube, env: Environment = Environment.DEV) -> FakeKube:
    kube.healthy(env)
    ns = env.namespace
    kube.on("get", "deployment", "api", json_out=objects.in_namespace(objects.load("deployment-api.json"), ns))
    kube.on("rollout", "history", "deployment/api", file="rollout-history-api.txt")
    kube.on("get", "replicasets", "--selector", API_SELECTOR,
            json_out=objects.in_namespace(objects.load("replicasets-api.json"), ns))  # fmt: skip
    kube.on("rollout", "undo", "deployment/api", stdout="deployment.apps/api rolled back\n")
    return kube


class TestHistory:
    def test_list_shows_revisions_images_and_causes(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        result = run("rollback", "dev", "api", "--list")
        assert result.exit_code == 0
        out = result.stdout
        for expected in ("deployment/api", "ghcr.io/leadgen/leadgen:1.4.0", "release 1.4.1", "current"):
            assert expected in out
        assert not kube.ran("rollout", "undo")

    def test_list_as_json(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        doc = payload(run("rollback", "dev", "api", "--list", "--json"))
        [api] = doc["services"]
        assert [r["number"] for r in api["history"]] == [2, 3, 4]
        assert [r["current"] for r in api["history"]] == [False, False, True]
        assert api["history"][1] == {
            "number": 3, "change_cause": "release 1.4.1", "images": ["ghcr.io/leadgen/leadgen:1.4.1"],
            "created": "2026-11-17T10:21:45Z", "replica_set": "api-6b5a4c3d2f", "current": False,
        }  # fmt: skip
        assert doc["listed_only"] is True


class TestRollback:
    def test_to_previous_revision_follows_and_verifies(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        result = run("rollback", "dev", "api")
        assert result.exit_code == 0, result.output
        commands = kube.commands()
        undo = kube.index("rollout", "undo")
        assert commands[undo] == ["rollout", "undo", "deployment/api", "--to-revision=3"]
        assert commands[undo + 1] == ["rollout", "status", "deployment/api", "--timeout=300s"]
        assert kube.index("get", "--raw") > undo
        assert kube.first("get", "--raw")["args"][2] == "/api/v1/namespaces/leadgen-dev/services/api:3000/proxy/readyz"
        assert "rolled back api → 3" in result.stdout

    def test_to_a_given_revision(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        doc = payload(run("rollback", "dev", "api", "--to-revision", "2", "--json"))
        assert doc["ok"] is True
        assert doc["services"][0]["from_revision"] == 4 and doc["services"][0]["to_revision"] == 2
        assert ["rollout", "undo", "deployment/api", "--to-revision=2"] in kube.commands()
        assert {c["name"]: c["status"] for c in doc["verification"]} == {"api": "pass"}

    def test_unknown_revision_changes_nothing(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        result = run("rollback", "dev", "api", "--to-revision", "9")
        assert result.exit_code == 1
        assert "revision 9 does not exist; known revisions: 2, 3, 4" in result.stderr
        assert not kube.ran("rollout", "undo")

    def test_current_revision_is_refused(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        result = run("rollback", "dev", "api", "--to-revision", "4")
        assert result.exit_code == 1
        assert "already the current revision" in result.stderr

    def test_to_revision_needs_a_service(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        result = run("rollback", "dev", "--to-revision", "3")
        assert result.exit_code == 2
        assert "--to-revision needs a SERVICE" in result.stderr
        assert kube.commands() == []

    def test_every_service_when_none_named(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        only_one = "deployment.apps/x \nREVISION  CHANGE-CAUSE\n1         <none>\n\n"
        kube.on("rollout", "history", stdout=only_one)
        kube.on("rollout", "history", "deployment/api", file="rollout-history-api.txt")
        kube.on("get", "replicasets", json_out=objects.as_list([]))
        kube.on("get", "replicasets", "--selector", API_SELECTOR, file="replicasets-api.json")
        for name in contract.DEPLOYMENTS:
            if name != "api":
                kube.on("get", "deployment", name, json_out=objects.deployment(name))
        result = run("rollback", "dev")
        assert result.exit_code == 0, result.output
        undone = [c for c in kube.commands() if c[:2] == ["rollout", "undo"]]
        assert undone == [["rollout", "undo", "deployment/api", "--to-revision=3"]]
        assert "deployment/worker: skipped, revision 1 is the only revision kept" in result.stdout

    def test_failed_rollback_rollout(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        kube.on("rollout", "status", "deployment/api", stderr="error: timed out waiting for the condition\n", exit=1)
        kube.on("get", "pods", "--selector", API_SELECTOR,
                json_out=objects.as_list([objects.load("pod-api-crashloop.json")]))  # fmt: skip
        kube.on("get", "events", file="events-api-crashloop.json")
        kube.on("logs", stdout="boom\n")
        result = run("rollback", "dev", "api")
        assert result.exit_code == 1
        assert "FAILED deployment/api" in result.stdout
        assert "timed out waiting for the condition" in result.stdout
        assert "reason CrashLoopBackOff" in result.stdout

    def test_failed_verification(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        kube.on(
            "get",
            "--raw",
            stderr="Error from server (ServiceUnavailable): the server is currently unable to handle the request\n",
            exit=1,
        )
        result = run("rollback", "dev", "api")
        assert result.exit_code == 1
        assert "verification failed" in result.stdout
        assert "ServiceUnavailable" in result.stdout

    def test_missing_deployment(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube).not_found("get", "deployment", "api", what='deployments.apps "api"')
        result = run("rollback", "dev", "api")
        assert result.exit_code == 1
        assert "deployment/api does not exist in leadgen-dev" in result.stderr


class TestProd:
    def test_refuses_without_confirmation(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube, Environment.PROD)
        result = run("rollback", "prod", "api")
        assert result.exit_code == 2
        assert "--yes-i-mean-prod" in result.stderr
        assert not kube.ran("rollout", "undo")

    def test_listing_prod_needs_no_confirmation(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube, Environment.PROD)
        assert run("rollback", "prod", "api", "--list").exit_code == 0

    def test_typed_confirmation(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube, Environment.PROD)
        result = run("rollback", "prod", "api", input="prod\n", interactive=True)
        assert result.exit_code == 0
        assert "api 4→3" in result.stderr
        assert kube.first("rollout", "undo")["namespace"] == "leadgen-prod"

    def test_flag(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube, Environment.PROD)
        assert run("rollback", "prod", "api", "--yes-i-mean-prod").exit_code == 0
        assert kube.ran("rollout", "undo", "deployment/api", "--to-revision=3")
