"""``--namespace`` never trades one environment's rules for another's (``leadgen.ops.namespace``):
prod's typed confirmation and each environment's replica floor follow the namespace acted on."""

from __future__ import annotations

import pytest

from leadgen.ops.contract import Environment, environment_named

from . import objects
from .conftest import FakeKube, Run
from .test_rollback import with_api_history
from .test_scale import cluster

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
