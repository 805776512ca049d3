"""``--namespace`` never trades one environment's rules for another's (``leadgen.ops.namespace``):
prod's typed confirmation and each environment's replica floor follow the namespace acted on."""

from __future__ import annotations

import pytest

from leadgen.ops.contract import Environment, environment_named

from . import objects
from .conftest import FakeKube, Run
from .test_rollback import with_api_history
from .test_scale import cluster, database

CHANGES = (("scale",), ("patch",), ("rollout", "undo"))


def changed(kube: FakeKube) -> list[list[str]]:
    return [args for args in kube.commands() if any(args[: len(c)] == list(c) for c in CHANGES)]


@pytest.mark.parametrize(
    ("namespace", "environment"),
    [
        ("leadgen-prod", Environment.PROD),
        ("leadgen-prod-blue", Environment.PROD),
        ("leadgen-staging", Environment.STAGING),
        ("leadgen-dev-2", Environment.DEV),
        ("leadgen-production", None),
        ("sandbox", None),
    ],
)
def test_the_environment_a_name_claims(namespace: str, environment: Environment | None) -> None:
    assert environment_named(namespace) is environment


@pytest.mark.parametrize(
    "args",
    [
        ("scale", "dev", "worker", "1", "--yes"),
        ("scale", "dev", "api", "1", "--hpa", "--yes"),
        ("debug", "dev", "pods"),
        ("health-check", "dev"),
    ],
)
def test_a_prod_namespace_with_dev_rules_is_refused(run: Run, kube: FakeKube, args: tuple[str, ...]) -> None:
    cluster(kube, Environment.DEV)
    result = run(*args, "--namespace", "leadgen-prod")
    assert result.exit_code == 2, result.output
    assert "Namespace leadgen-prod belongs to prod (by its name), not dev" in result.stderr
    assert kube.commands() == []


def test_rollback_of_a_prod_namespace_with_dev_rules_is_refused(run: Run, kube: FakeKube) -> None:
    with_api_history(kube, Environment.PROD)
    result = run("rollback", "dev", "api", "--namespace", "leadgen-prod")
    assert result.exit_code == 2, result.output
    assert not changed(kube)


def test_a_copy_of_prod_under_another_name_is_prod(run: Run, kube: FakeKube) -> None:
    """The namespace's cluster settings say prod: dev's rules are refused, prod's apply."""
    cluster(kube, Environment.PROD)  # its leadgen-cluster-settings say prod
    refused = run("scale", "dev", "worker", "1", "--yes", "--namespace", "sandbox")
    assert refused.exit_code == 2
    assert "belongs to prod (by its ConfigMap leadgen-cluster-settings)" in refused.stderr
    unconfirmed = run("scale", "prod", "worker", "3", "--yes", "--namespace", "sandbox")
    assert unconfirmed.exit_code == 2  # prod's typed confirmation, refused without a terminal
    assert "pass --yes-i-mean-prod to change prod without a terminal" in unconfirmed.stderr
    assert not changed(kube)
    assert kube.first("get", "configmap", "leadgen-cluster-settings")["namespace"] == "sandbox"


def test_own_namespaces_and_unlabelled_ones_take_the_environment_given(run: Run, kube: FakeKube) -> None:
    cluster(kube, Environment.DEV)
    assert run("scale", "dev", "worker", "4", "--yes", "--namespace", "leadgen-dev-2").exit_code == 0
    kube.on("get", "configmap", "leadgen-cluster-settings", json_out=objects.cluster_settings(None))
    assert run("scale", "dev", "worker", "4", "--yes", "--namespace", "sandbox").exit_code == 0
    kube.not_found("get", "configmap", "leadgen-cluster-settings", what='configmaps "leadgen-cluster-settings"')
    assert run("scale", "dev", "worker", "4", "--yes", "--namespace", "sandbox").exit_code == 0
    assert len(changed(kube)) == 3


def test_settings_it_may_not_read_leave_the_name_to_decide(run: Run, kube: FakeKube) -> None:
    cluster(kube, Environment.DEV)
    kube.on("get", "configmap", "leadgen-cluster-settings", exit=1,
            stderr='Error from server (Forbidden): configmaps "leadgen-cluster-settings" is forbidden\n')  # fmt: skip
    assert run("scale", "dev", "worker", "4", "--yes", "--namespace", "sandbox").exit_code == 0
    assert run("scale", "dev", "worker", "4", "--yes", "--namespace", "leadgen-prod").exit_code == 2


# --- the cluster: rollback, scale and debug act only through the context the namespace names ---

LAPTOP = "kind-dev-laptop"
# One read-only and one changing form of each command that does not render the overlay.
ACTING_ON_PROD = {
    "rollback": ("rollback", "prod", "api", "--yes-i-mean-prod"),
    "rollback --list": ("rollback", "prod", "api", "--list"),
    "scale": ("scale", "prod", "worker", "0", "--yes", "--yes-i-mean-prod"),
    "scale --hpa": ("scale", "prod", "api", "5", "--hpa", "--yes", "--yes-i-mean-prod"),
    "debug pods": ("debug", "prod", "pods"),
    "debug logs": ("debug", "prod", "logs", "--service", "api"),
}
FORBIDDEN = 'Error from server (Forbidden): configmaps "leadgen-cluster-settings" is forbidden\n'


def prod_cluster(kube: FakeKube, *, settings_context: str | None, current: str = LAPTOP) -> FakeKube:
    """Prod's namespace as a deploy left it, its settings naming ``settings_context`` (None: the
    ConfigMap is not there), reached through kubectl's current context ``current``."""
    cluster(kube, Environment.PROD)
    with_api_history(kube, Environment.PROD)
    database(kube, Environment.PROD)  # as cluster() serves it; with_api_history's healthy() replaced it
    kube.on("logs", stdout="2026-11-25T11:51:01Z line one\n")
    if settings_context is None:
        kube.not_found("get", "configmap", "leadgen-cluster-settings", what='configmaps "leadgen-cluster-settings"')
    else:
        settings = objects.cluster_settings(Environment.PROD, settings_context)
        kube.on("get", "configmap", "leadgen-cluster-settings", json_out=settings)
    kube.on("config", "current-context", stdout=f"{current}\n")
    kube.on("config", "get-contexts", stdout=f"{LAPTOP}\nleadgen-prod\nprod-eks-euw1\n")
    return kube


def refusal(result_stderr: str) -> str:
    return " ".join(result_stderr.split())


class TestTheNamespacesCluster:
    """A laptop's cluster that happens to hold a leadgen-prod namespace is not prod's."""

    @pytest.mark.parametrize("args", ACTING_ON_PROD.values(), ids=ACTING_ON_PROD.keys())
    def test_a_laptops_context_is_refused(self, run: Run, kube: FakeKube, args: tuple[str, ...]) -> None:
        prod_cluster(kube, settings_context="leadgen-prod")
        result = run(*args)
        assert result.exit_code == 2, result.output
        message = refusal(result.stderr)
        assert (
            f"Context {LAPTOP} is not prod's: the namespace's leadgen-cluster-settings (kubeContext) "
            "names leadgen-prod; nothing was changed." in message
        )
        assert "Pass --context leadgen-prod" in message
        assert "kubectl config rename-context NAME leadgen-prod" in message
        # Nothing but the context and the settings was read, and nothing changed.
        assert {args[0] for args in kube.commands()} == {"config", "get"}
        assert [c[:3] for c in kube.commands() if c[0] == "get"] == [["get", "configmap", "leadgen-cluster-settings"]]

    @pytest.mark.parametrize("args", ACTING_ON_PROD.values(), ids=ACTING_ON_PROD.keys())
    def test_the_context_option_selects_it(self, run: Run, kube: FakeKube, args: tuple[str, ...]) -> None:
        prod_cluster(kube, settings_context="leadgen-prod")
        result = run(*args, "--context", "leadgen-prod")
        assert result.exit_code == 0, result.output
        assert {c.get("context") for c in kube.calls() if c["args"][0] != "config"} == {"leadgen-prod"}

    def test_the_settings_are_read_through_the_context_checked(self, run: Run, kube: FakeKube) -> None:
        prod_cluster(kube, settings_context="leadgen-prod")
        run("scale", "prod", "worker", "4", "--yes", "--yes-i-mean-prod", "--context", "leadgen-prod")
        read = kube.first("get", "configmap", "leadgen-cluster-settings")
        assert (read["context"], read["namespace"]) == ("leadgen-prod", "leadgen-prod")

    def test_a_namespace_deployed_with_another_context_names_that_one(self, run: Run, kube: FakeKube) -> None:
        """The release pipeline may set kubeContext in its checkout: the cluster's copy is what counts."""
        prod_cluster(kube, settings_context="prod-eks-euw1", current="prod-eks-euw1")
        allowed = run("scale", "prod", "worker", "4", "--yes", "--yes-i-mean-prod")
        assert allowed.exit_code == 0, allowed.output
        refused = run("scale", "prod", "worker", "4", "--yes", "--yes-i-mean-prod", "--context", "leadgen-prod")
        assert refused.exit_code == 2
        assert "Context leadgen-prod is not prod's" in refusal(refused.stderr)
        assert "names prod-eks-euw1" in refusal(refused.stderr)
        assert len(changed(kube)) == 1

    def test_settings_it_may_not_read_leave_prod_to_its_documented_context(self, run: Run, kube: FakeKube) -> None:
        prod_cluster(kube, settings_context="leadgen-prod")
        kube.on("get", "configmap", "leadgen-cluster-settings", stderr=FORBIDDEN, exit=1)
        refused = run("scale", "prod", "worker", "0", "--yes", "--yes-i-mean-prod")
        assert refused.exit_code == 2
        message = refusal(refused.stderr)
        assert f"Context {LAPTOP} is not prod's" in message
        assert "the namespace's leadgen-cluster-settings may not be read" in message and "names leadgen-prod" in message
        allowed = run("scale", "prod", "worker", "4", "--yes", "--yes-i-mean-prod", "--context", "leadgen-prod")
        assert allowed.exit_code == 0, allowed.output
        assert len(changed(kube)) == 1

    def test_a_namespace_without_settings_is_held_to_the_documented_context(self, run: Run, kube: FakeKube) -> None:
        """A leadgen-prod namespace made by hand on a laptop says nothing; prod's context still applies."""
        prod_cluster(kube, settings_context=None)
        refused = run("rollback", "prod", "api", "--yes-i-mean-prod")
        assert refused.exit_code == 2
        assert "the namespace's leadgen-cluster-settings does not exist" in refusal(refused.stderr)
        assert not changed(kube)

    def test_settings_naming_no_context_take_any(self, run: Run, kube: FakeKube) -> None:
        """dev, as committed (kubeContext empty): a laptop's kind or minikube."""
        cluster(kube, Environment.DEV)
        kube.on("get", "configmap", "leadgen-cluster-settings", json_out=objects.cluster_settings(Environment.DEV, ""))
        kube.on("config", "current-context", stdout=f"{LAPTOP}\n")
        assert run("scale", "dev", "worker", "4", "--yes").exit_code == 0
        kube.on("get", "configmap", "leadgen-cluster-settings", stderr=FORBIDDEN, exit=1)
        assert run("debug", "dev", "pods").exit_code == 0
