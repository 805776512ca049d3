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
    kube.on("get", "deployment", "frontend", json_out=objects.in_namespace(objects.deployment("frontend"), ns))
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
            "release": None, "schema_head": None,
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
        # Verified from the cluster's own view, never through the API server's service proxy.
        assert kube.index("get", "pods") > undo and kube.index("get", "endpointslices") > undo
        assert not kube.ran("get", "--raw") and not kube.ran("exec")
        assert "│ Readiness │ api  │ PASS   │ 2/2 pods Ready, 2 ready endpoint(s)" in result.stdout
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
        slices = objects.healthy(Environment.DEV)["endpointslices"]
        slices["items"][0] = objects.endpointslice("api", ready=False)
        kube.on("get", "endpointslices", json_out=slices)
        result = run("rollback", "dev", "api")
        assert result.exit_code == 1
        assert "verification failed" in result.stdout
        assert "the Service has no ready endpoint" in result.stdout

    def test_a_verification_that_could_read_nothing_fails(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        kube.on(
            "get", "pods", stderr='Error from server (Forbidden): pods is forbidden: User "ci" cannot list\n', exit=1
        )
        result = run("rollback", "dev", "api")
        assert result.exit_code == 1, result.output
        assert "no check passed: Readiness: no permission to read it" in result.stdout
        assert "rolled back api → 3; verification failed" in result.stdout

    def test_says_migrations_are_not_rolled_back(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        doc = payload(run("rollback", "dev", "api", "--json"))
        assert doc["schema"].startswith("Migrations are not rolled back, and the running release did not record")
        assert "revision 3 must run on the newer schema, which expand/contract migrations allow" in doc["schema"]

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


V1, V2, V3 = "1.4.0+0a1b2c3d4e", "1.5.0+5f6a7b8c9d", "1.5.0+e0f1a2b3c4"
HEADS = {V1: "20261101_0030", V2: "20261115_0038", V3: "20261115_0038"}


def revs(*releases: str) -> list[objects.Rev]:
    """Revisions 1, 2, ... of a Deployment, one per release given; the last is current."""
    return [objects.Rev(n, r, HEADS.get(r)) for n, r in enumerate(releases, start=1)]


def with_releases(kube: FakeKube, histories: dict[str, list[objects.Rev]]) -> FakeKube:
    """Every app Deployment with the given history (default: V1, V2, V3, one revision each)."""
    kube.healthy()
    for name in contract.DEPLOYMENTS:
        history = histories.get(name, revs(V1, V2, V3))
        current = history[-1].number
        kube.on("get", "deployment", name, json_out=objects.deployment_at(name, current))
        kube.on("rollout", "history", f"deployment/{name}", stdout=objects.rollout_history(name, history))
        sets = [objects.replica_set(name, r, current=r.number == current) for r in history]
        kube.on("get", "replicasets", "--selector", contract.selector_for(name), json_out=objects.as_list(sets))
    kube.on("rollout", "undo", stdout="deployment.apps/x rolled back\n")
    return kube


def undone(kube: FakeKube) -> dict[str, str]:
    return {c[2].removeprefix("deployment/"): c[3] for c in kube.commands() if c[:2] == ["rollout", "undo"]}


class TestOneServiceAfterARestart:
    """``kubectl rollout restart`` (after a secret rotation) makes a revision of the same release:
    going back to it would undo nothing."""

    def test_goes_back_to_the_previous_release_and_says_so(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {"api": revs(V1, V2, V2)})
        result = run("rollback", "dev", "api")
        assert result.exit_code == 0, result.output
        assert undone(kube) == {"api": "--to-revision=1"}
        assert (
            f"deployment/api: revision 2 runs release {V2} like the current revision 3 (a restart or an edit "
            f"outside deploy), so it goes back to revision 1, release {V1}" in " ".join(result.stdout.split())
        )
        assert "same as current" in result.stdout
        assert "rolled back api → 1" in result.stdout

    def test_the_json_names_the_revisions_passed_over(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {"api": revs(V1, V2, V2, V2)})
        [api] = payload(run("rollback", "dev", "api", "--json"))["services"]
        assert (api["from_revision"], api["to_revision"], api["passed_over"]) == (4, 1, [2, 3])

    def test_an_explicit_revision_is_taken_as_given(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {"api": revs(V1, V2, V2)})
        assert run("rollback", "dev", "api", "--to-revision", "2").exit_code == 0
        assert undone(kube) == {"api": "--to-revision=2"}

    def test_nothing_older_runs_anything_else(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {"api": revs(V2, V2)})
        result = run("rollback", "dev", "api")
        assert result.exit_code == 1
        assert "every revision kept before 2 (1) runs release" in result.stderr and "--to-revision" in result.stderr
        assert not kube.ran("rollout", "undo")


class TestReleaseRollback:
    def test_every_service_goes_to_the_previous_release(self, run: Run, kube: FakeKube) -> None:
        # api was restarted during V3 (kubectl rollout restart makes a revision of the same
        # release): its own previous revision is still V3, the previous release is V2.
        with_releases(kube, {"api": revs(V1, V2, V3, V3)})
        result = run("rollback", "dev")
        assert result.exit_code == 0, result.output
        assert undone(kube) == {name: "--to-revision=2" for name in contract.DEPLOYMENTS}
        assert f"rolled back to release {V2}" in result.stdout
        assert kube.index("get", "endpointslices") > max(
            i for i, c in enumerate(kube.commands()) if c[:2] == ["rollout", "undo"]
        )

    def test_newest_revision_of_that_release(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {"worker": revs(V1, V2, V2, V3)})  # V2, then a restart
        run("rollback", "dev")
        assert undone(kube)["worker"] == "--to-revision=3"

    def test_refuses_when_a_service_kept_no_revision_of_it(self, run: Run, kube: FakeKube) -> None:
        # The scheduler's history no longer holds V2 (revisionHistoryLimit).
        with_releases(kube, {"scheduler": [objects.Rev(7, V1), objects.Rev(9, V3)]})
        result = run("rollback", "dev")
        assert result.exit_code == 1
        assert f"no revision of release {V2} is kept for scheduler" in result.stderr
        assert "nothing was changed" in result.stderr
        assert not kube.ran("rollout", "undo")

    def test_refuses_services_on_different_releases(self, run: Run, kube: FakeKube) -> None:
        # A deploy of V3 stopped after api rolled out.
        with_releases(kube, {name: revs(V1, V2) for name in contract.DEPLOYMENTS if name != "api"})
        result = run("rollback", "dev")
        assert result.exit_code == 1
        assert f"the Deployments run different releases (api: {V3}; backend: {V2};" in result.stderr
        assert "--to-release" in result.stderr
        assert not kube.ran("rollout", "undo")

    def test_to_release_brings_a_half_deployed_release_back(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {name: revs(V1, V2) for name in contract.DEPLOYMENTS if name != "api"})
        result = run("rollback", "dev", "--to-release", V2)
        assert result.exit_code == 0, result.output
        assert undone(kube) == {"api": "--to-revision=2"}
        assert f"deployment/worker: skipped, already runs release {V2}" in result.stdout

    def test_refuses_revisions_from_before_releases_were_recorded(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {"frontend": [objects.Rev(1, None), objects.Rev(2, None)]})
        result = run("rollback", "dev")
        assert result.exit_code == 1
        assert "frontend: the current revision carries no leadgen.io/release annotation" in result.stderr
        assert not kube.ran("rollout", "undo")

    def test_says_where_the_schema_stands_before_asking(self, run: Run, kube: FakeKube) -> None:
        histories = {name: revs(V1, V2) for name in contract.DEPLOYMENTS}
        with_releases(kube, histories)
        result = run("rollback", "prod", "--yes-i-mean-prod")
        assert result.exit_code == 0, result.output
        note = (
            f"Migrations are not rolled back: the database stays at Alembic head 20261115_0038 ({V2}). "
            f"{V1} (deployed at head 20261101_0030) must run on the newer schema, which expand/contract "
            "migrations allow (docs/KUBERNETES_DEPLOYMENT.md#rollback): leave the schema there (the next "
            "deploy migrates on from it). Never downgrade before rolling back; if a downgrade is really "
            f"needed, roll back first, then run `leadgen db downgrade 20261101_0030` in a one-off pod of {V2}'s image."
        )
        assert note in " ".join(result.stdout.split())
        assert result.stdout.index("Migrations are not rolled back") < result.stdout.index("✓ rollback")

    def test_same_schema_head_is_said_so(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        doc = payload(run("rollback", "dev", "--json"))
        assert doc["schema"] == (
            f"Migrations are not rolled back: the database stays at Alembic head 20261115_0038 ({V3}). "
            f"{V2} was deployed at the same head."
        )
        assert (doc["from_release"], doc["to_release"]) == (V3, V2)

    def test_prod_confirmation_names_both_releases(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        kube.on("get", "deployments", json_out=objects.healthy(Environment.PROD)["deployments"])
        result = run("rollback", "prod", input="prod\n", interactive=True)
        assert result.exit_code == 0, result.output
        assert f"release {V3} → {V2}: frontend 3→2, api 3→2" in result.stderr

    def test_list_shows_the_release_of_each_revision(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        doc = payload(run("rollback", "dev", "--list", "--json"))
        api = next(s for s in doc["services"] if s["service"] == "api")
        assert [(r["number"], r["release"], r["current"]) for r in api["history"]] == [
            (1, V1, False), (2, V2, False), (3, V3, True),
        ]  # fmt: skip
        assert not kube.ran("rollout", "undo")

    def test_to_revision_and_to_release_exclude_each_other(self, run: Run, kube: FakeKube) -> None:
        result = run("rollback", "dev", "api", "--to-revision", "2", "--to-release", V2)
        assert result.exit_code == 2
        assert "not both" in result.stderr


BACKENDS = ("api", "data-service", "orchestrator", "backend", "worker", "scheduler")


def stamped(service: str, release: str) -> dict[str, object]:
    """A rolled-out Deployment whose pod template carries ``release``."""
    dep = objects.deployment_at(service, 3)
    dep["spec"]["template"]["metadata"]["annotations"] = {contract.RELEASE_ANNOTATION: release}
    return dep


class TestRollbackOrder:
    """An api of an older release refuses the newer frontend's quote form (422): a rollback
    takes the frontend back before the servers it calls, the reverse of deploy's waves."""

    def test_the_frontend_goes_back_first(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        result = run("rollback", "dev")
        assert result.exit_code == 0, result.output
        order = [c[2] for c in kube.commands() if c[:2] == ["rollout", "undo"]]
        assert order == [f"deployment/{name}" for name in ("frontend", *BACKENDS)]

    def test_stopping_part_way_says_what_went_back_and_how_to_finish(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        kube.on("rollout", "status", "deployment/orchestrator", stderr="error: timed out waiting for the condition\n",
                exit=1)  # fmt: skip
        kube.on("get", "pods", json_out=objects.as_list([]))
        result = run("rollback", "dev", "--json")
        assert result.exit_code == 1
        doc = payload(result)
        assert doc["failure"]["resource"] == "deployment/orchestrator"
        assert doc["failure"]["hint"] == (
            f"Stopped part way; rolled back to release {V2}: frontend, api, data-service; not finished: "
            f"orchestrator (see above); not rolled back, still on {V3}: backend, worker, scheduler. Fix "
            f"orchestrator, then run `leadgen k8s rollback dev --to-release {V2}`: it skips what already "
            f"runs {V2} and rolls back the rest."
        )
        assert {s["service"]: s["rolled_back"] for s in doc["services"]} == {
            "frontend": True, "api": True, "data-service": True, "orchestrator": False,
            "backend": False, "worker": False, "scheduler": False,
        }  # fmt: skip
        assert not kube.ran("rollout", "undo", "deployment/backend")

    def test_the_hint_of_a_failed_undo_is_kept(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        kube.on("rollout", "undo", "deployment/frontend", exit=1, stderr=(
            'Error from server (Forbidden): deployments.apps "frontend" is forbidden: User "ci" cannot patch\n'
        ))  # fmt: skip
        hint = payload(run("rollback", "dev", "--json"))["failure"]["hint"]
        assert hint.startswith("Your credentials lack this permission")
        assert f"Stopped part way; not finished: frontend (see above); not rolled back, still on {V3}: api," in hint

    def test_undoing_a_rollback_takes_the_backends_first(self, run: Run, kube: FakeKube) -> None:
        # V3 went back to V2: V2's ReplicaSet, made before V3's, became revision 4.
        rolled_back = [
            objects.Rev(1, V1, HEADS[V1], created="2026-11-01T09:00:00Z"),
            objects.Rev(3, V3, HEADS[V3], created="2026-11-20T09:00:00Z"),
            objects.Rev(4, V2, HEADS[V2], created="2026-11-15T09:00:00Z"),
        ]
        with_releases(kube, dict.fromkeys(contract.DEPLOYMENTS, rolled_back))
        result = run("rollback", "dev", "--to-release", V3, "--json")
        assert result.exit_code == 0, result.output
        order = [c[2] for c in kube.commands() if c[:2] == ["rollout", "undo"]]
        assert order == [f"deployment/{name}" for name in (*BACKENDS, "frontend")]
        doc = payload(result)
        assert doc["to_newer_release"] is True
        assert doc["schema"].startswith(f"Rollback runs no migration: {V3} was deployed at Alembic head 20261115_0038")

    def test_one_service_stopping_needs_no_plan(self, run: Run, kube: FakeKube) -> None:
        with_api_history(kube)
        kube.on("rollout", "status", "deployment/api", stderr="error: timed out\n", exit=1)
        kube.on("get", "pods", json_out=objects.as_list([]))
        assert payload(run("rollback", "dev", "api", "--json"))["failure"]["hint"] is None


class TestOneServerTheFrontendCalls:
    def test_warns_when_the_frontend_stays_on_a_newer_release(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        kube.on("get", "deployment", "frontend", json_out=stamped("frontend", V3))
        result = run("rollback", "prod", "api", "--yes-i-mean-prod")
        assert result.exit_code == 0, result.output
        out = " ".join(result.stdout.split())
        warning = (
            f"warning: the frontend stays on release {V3} while api goes back to release {V2}. An older api "
            "refuses what a newer frontend sends (422 on the quote form): roll back every service instead "
            "(`leadgen k8s rollback prod`, which takes the frontend back first), or the frontend first "
            "(`leadgen k8s rollback prod frontend`)."
        )
        assert warning in out
        assert out.index("warning: the frontend stays") < out.index("✓ rollback deployment/api")
        assert undone(kube) == {"api": "--to-revision=2"}

    def test_the_warning_is_in_the_json(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        kube.on("get", "deployment", "frontend", json_out=stamped("frontend", V3))
        doc = payload(run("rollback", "dev", "data-service", "--json"))
        [warning] = doc["warnings"]
        assert warning.startswith(f"warning: the frontend stays on release {V3} while data-service goes back")

    def test_no_warning_when_both_run_the_same_release(self, run: Run, kube: FakeKube) -> None:
        # The frontend went back to V2 already; api follows it there.
        with_releases(kube, {})
        kube.on("get", "deployment", "frontend", json_out=stamped("frontend", V2))
        doc = payload(run("rollback", "dev", "api", "--json"))
        assert doc["ok"] is True and doc["warnings"] == []

    def test_no_warning_for_a_service_the_frontend_does_not_call(self, run: Run, kube: FakeKube) -> None:
        with_releases(kube, {})
        kube.on("get", "deployment", "frontend", json_out=stamped("frontend", V3))
        assert payload(run("rollback", "dev", "worker", "--json"))["warnings"] == []
        assert not kube.ran("get", "deployment", "frontend")
