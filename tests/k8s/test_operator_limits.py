"""The on-call Role reaches no Secret and no cloud identity beyond what its exec already reaches.

RBAC lets leadgen:operators patch ExternalSecrets (force a sync), create Jobs (rerun one), patch
Deployments and StatefulSets (restart, roll back) and add debug containers; the admission
policies of k8s/infrastructure/rbac/operator-limits.yaml say which of those writes they may make.
The CEL is evaluated with cel-python when it is installed; without it the structure and the
lists inside the expressions are still checked against the render.
"""

from __future__ import annotations

import copy
import json
import re
from types import ModuleType
from typing import Any

import pytest

from .admission import (
    BINDING,
    admit,
    compile_errors,
    policies,
    referenced_secrets,
    string_list,
    string_literal,
    variable,
    workload_secrets,
    workload_service_accounts,
)
from .render import NAMESPACES, OVERLAYS, VARIANTS, Resource, find, of_kind, overlay, render, workloads

OPERATORS = "leadgen:operators"
DEPLOYERS = "leadgen:deployers"
OPERATOR = (OPERATORS, "system:authenticated")
KINDS = ("external-secrets", "pod-templates", "debug-containers")
# Overlays and the variants built on them, with their environment.
TARGETS = {
    **{f"overlays/{name}": name for name in OVERLAYS},
    **{f"variants/{name}": name.split("-")[0] for name in VARIANTS},
}
# Writes of leadgen-operator that reach no Secret and no cloud identity the workloads' pods do not
# already hold; every other write it grants must be held by a policy.
UNPOLICED_WRITES = {
    ("", "pods/exec", "create"),  # what the pod holds: the policies keep that to the workloads' own
    ("", "pods/portforward", "create"),
    ("", "pods/attach", "create"),
    ("", "pods", "delete"),
    ("batch", "jobs", "delete"),
    ("", "persistentvolumeclaims", "patch"),  # only the size can change once bound
    ("autoscaling", "horizontalpodautoscalers", "patch"),
    ("apps", "deployments/scale", "update"),
    ("apps", "deployments/scale", "patch"),
    ("apps", "statefulsets/scale", "update"),
    ("apps", "statefulsets/scale", "patch"),
}
OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE"}


def _celpy() -> ModuleType:
    import celpy

    module: ModuleType = celpy
    return module


def _policy(resources: list[Resource], env: str, kind: str) -> Resource:
    return find(resources, "ValidatingAdmissionPolicy", f"leadgen-{env}-operator-{kind}")


def _allowed_secret(policy: Resource, name: str) -> bool:
    return re.fullmatch(string_literal(variable(policy, "secretNames")), name) is not None


# ---------------------------------------------------------------------------------------------
# The policies, their bindings and their lists, as rendered


@pytest.mark.parametrize("target", TARGETS)
def test_each_policy_is_bound_in_its_environment_only(target: str) -> None:
    env, resources = TARGETS[target], render(target)
    assert sorted(p["metadata"]["name"] for p in policies(resources)) == sorted(
        f"leadgen-{env}-operator-{kind}" for kind in KINDS
    )
    for policy in policies(resources):
        name = policy["metadata"]["name"]
        binding = find(resources, BINDING, name)
        assert "namespace" not in policy["metadata"] and "namespace" not in binding["metadata"]
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert binding["spec"]["policyName"] == name
        assert binding["spec"]["validationActions"] == ["Deny"]
        assert binding["spec"]["matchResources"] == {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACES[env]}}
        }


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_policies_target_the_group_the_operator_role_is_bound_to(name: str) -> None:
    resources = overlay(name)
    subjects = find(resources, "RoleBinding", "leadgen-operators")["subjects"]
    assert [s["name"] for s in subjects] == [OPERATORS]
    expected = f"'{OPERATORS}' in request.userInfo.groups && !('{DEPLOYERS}' in request.userInfo.groups)"
    assert len(policies(resources)) == len(KINDS)
    for policy in policies(resources):
        assert [c["expression"] for c in policy["spec"]["matchConditions"]] == [expected]


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_write_of_the_operator_role_is_policed_or_harmless(name: str) -> None:
    resources = overlay(name)
    policed = {
        (group, resource, operation)
        for policy in policies(resources)
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for operation in rule["operations"]
    }
    writes = {
        (group, resource, verb)
        for rule in find(resources, "Role", "leadgen-operator")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        if verb not in ("get", "list", "watch")
    }
    unchecked = [
        w for w in writes - UNPOLICED_WRITES if (w[0], w[1], OPERATIONS.get(w[2], w[2].upper())) not in policed
    ]
    assert not unchecked, f"writes of leadgen-operator no policy holds: {sorted(unchecked)}"


def test_pod_template_rules_agree_between_policies() -> None:
    resources = overlay("prod")
    templates, debug = _policy(resources, "prod", "pod-templates"), _policy(resources, "prod", "debug-containers")
    assert variable(templates, "secretNames") == variable(debug, "secretNames")


@pytest.mark.parametrize("target", TARGETS)
def test_operators_run_pods_only_as_the_workloads_service_accounts(target: str) -> None:
    """The list is the workloads' ServiceAccounts (whose pods exec reaches anyway), never the one
    External Secrets reads the cloud secret manager with."""
    env, resources = TARGETS[target], render(target)
    allowed = set(string_list(variable(_policy(resources, env, "pod-templates"), "serviceAccounts")))
    used = workload_service_accounts(resources)
    assert used <= allowed, f"workloads run as {sorted(used - allowed)}: add them to the policy"
    assert "leadgen-external-secrets" not in allowed and "default" not in allowed
    every_overlay = set().union(*(workload_service_accounts(overlay(n)) for n in OVERLAYS))
    assert allowed == every_overlay, f"no workload runs as {sorted(allowed - every_overlay)}"
    bound = {
        s["name"] for b in of_kind(resources, "RoleBinding") for s in b["subjects"] if s["kind"] == "ServiceAccount"
    }
    assert not bound & allowed


@pytest.mark.parametrize("target", TARGETS)
def test_operators_mount_only_the_workloads_secrets(target: str) -> None:
    env, resources = TARGETS[target], render(target)
    policy = _policy(resources, env, "pod-templates")
    pattern = string_literal(variable(policy, "secretNames"))
    names = re.fullmatch(r"\^\(([-a-z0-9|]+)\)" + re.escape(r"(-[a-z0-9]{10})?$"), pattern)
    assert names, f"secretNames is not ^(name|...)(hash suffix)?$: {pattern}"
    listed = set(names.group(1).split("|"))
    every_overlay = set().union(*(workload_secrets(overlay(n)) for n in OVERLAYS))
    assert listed == every_overlay
    for workload in workloads(resources):
        for name in workload_secrets([workload]):
            assert _allowed_secret(policy, name), f"{workload['metadata']['name']} mounts {name}"
    for certificate in of_kind(resources, "Certificate"):
        assert not _allowed_secret(policy, certificate["spec"]["secretName"])


# ---------------------------------------------------------------------------------------------
# The CEL, evaluated


def _job_from_cronjob(cronjob: Resource, name: str) -> dict[str, Any]:
    """What `kubectl create job NAME --from=cronjob/...` sends."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob["metadata"]["name"]}],
        },
        "spec": copy.deepcopy(cronjob["spec"]["jobTemplate"]["spec"]),
    }


def _restarted(workload: Resource) -> dict[str, Any]:
    """What `kubectl rollout restart` changes."""
    changed = copy.deepcopy(workload)
    annotations = changed["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/restartedAt"] = "2026-01-01T00:00:00Z"
    return changed


def _rolled_back(workload: Resource) -> dict[str, Any]:
    """What `kubectl rollout undo` writes: an earlier template (another image here)."""
    changed = copy.deepcopy(workload)
    for container in changed["spec"]["template"]["spec"]["containers"]:
        container["image"] = container["image"].split("@")[0].rsplit(":", 1)[0] + ":0.0.9"
    return changed


def _pod(template_owner: Resource) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "api-0"},
        "spec": copy.deepcopy(template_owner["spec"]["template"]["spec"]),
    }


TLS_SECRET = "leadgen-tls"


def _with(workload: dict[str, Any], change: str) -> dict[str, Any]:
    """A pod template changed one of the ways around the policy."""
    changed = copy.deepcopy(workload)
    pod = changed["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ref = {"name": TLS_SECRET, "key": "tls.key"}
    match change:
        case "external-secrets identity":
            pod["serviceAccountName"] = "leadgen-external-secrets"
        case "default identity":
            pod["serviceAccountName"] = "default"
        case "no identity":
            pod.pop("serviceAccountName", None)
        case "secret volume":
            pod.setdefault("volumes", []).append({"name": "x", "secret": {"secretName": TLS_SECRET}})
        case "projected secret":
            pod.setdefault("volumes", []).append({"name": "x", "projected": {"sources": [{"secret": ref}]}})
        case "env secret":
            container.setdefault("env", []).append({"name": "X", "valueFrom": {"secretKeyRef": ref}})
        case "envFrom secret":
            container.setdefault("envFrom", []).append({"secretRef": {"name": TLS_SECRET}})
        case "init container env secret":
            init = {
                "name": "x",
                "image": container["image"],
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": ref}}],
            }
            pod.setdefault("initContainers", []).append(init)
        case "image pull secret":
            pod["imagePullSecrets"] = [{"name": TLS_SECRET}]
        case "hostPath volume":
            pod.setdefault("volumes", []).append({"name": "x", "hostPath": {"path": "/"}})
        case "csi volume":
            csi = {"driver": "secrets-store.csi.k8s.io", "nodePublishSecretRef": {"name": TLS_SECRET}}
            pod.setdefault("volumes", []).append({"name": "x", "csi": csi})
    return changed


WAYS_AROUND = (
    "external-secrets identity",
    "default identity",
    "no identity",
    "secret volume",
    "projected secret",
    "env secret",
    "envFrom secret",
    "init container env secret",
    "image pull secret",
    "hostPath volume",
    "csi volume",
)


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_expression_is_cel(name: str) -> None:
    cel, rendered = _celpy(), policies(overlay(name))
    assert len(rendered) == len(KINDS)
    assert not [e for policy in rendered for e in compile_errors(cel, policy)]


@pytest.mark.parametrize("name", OVERLAYS)
def test_operators_restart_and_roll_back_every_workload_and_rerun_every_job(name: str) -> None:
    """Nothing the overlay itself runs is refused: restart, rollback, a Job from a CronJob (the
    runbook's restore check) or a copy of the migration Job."""
    cel, resources = _celpy(), overlay(name)
    policy = _policy(resources, name, "pod-templates")
    refused = []
    for workload in of_kind(resources, "Deployment", "StatefulSet"):
        for changed in (_restarted(workload), _rolled_back(workload)):
            verdict = admit(cel, policy, changed, workload, OPERATOR)
            assert verdict.applies
            refused += [f"{workload['kind']}/{workload['metadata']['name']}: {d}" for d in verdict.denied]
    jobs = [_job_from_cronjob(c, "restore-check") for c in of_kind(resources, "CronJob")] + of_kind(resources, "Job")
    for job in jobs:
        refused += [f"Job from {job['metadata']['name']}: {d}" for d in admit(cel, policy, job, None, OPERATOR).denied]
    assert not refused


@pytest.mark.parametrize("change", WAYS_AROUND)
@pytest.mark.parametrize("name", ["dev", "prod"])
def test_operators_cannot_reach_other_secrets_or_identities_through_a_pod_template(name: str, change: str) -> None:
    cel, resources = _celpy(), overlay(name)
    policy = _policy(resources, name, "pod-templates")
    migration = find(resources, "Job", "db-migrate")
    api = find(resources, "Deployment", "api")
    assert admit(cel, policy, _with(migration, change), None, OPERATOR).denied, f"Job with {change}"
    assert admit(cel, policy, _with(api, change), api, OPERATOR).denied, f"Deployment patched with {change}"
    # A deployer applies what the overlay says; the policy leaves them alone.
    assert not admit(cel, policy, _with(migration, change), None, (DEPLOYERS, OPERATORS)).applies


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_operators_force_a_sync_but_cannot_repoint_an_external_secret(name: str) -> None:
    """The reviewer's way around: merge-patch qdrant-credentials (the one Secret on-call reads) to
    template the database superuser password into it."""
    cel, resources = _celpy(), overlay(name)
    policy = _policy(resources, name, "external-secrets")
    current = find(resources, "ExternalSecret", "qdrant-credentials")
    synced = copy.deepcopy(current)
    synced["metadata"].setdefault("annotations", {})["force-sync"] = "1767225600"
    assert admit(cel, policy, synced, current, OPERATOR).allowed
    repointed = copy.deepcopy(synced)
    repointed["spec"]["dataFrom"] = [{"extract": {"key": f"leadgen/{name}/postgres"}}]
    repointed["spec"]["target"]["template"]["data"] = {"api-key": "{{ .superuser_password }}"}
    assert admit(cel, policy, repointed, current, OPERATOR).denied
    assert not admit(cel, policy, repointed, current, (DEPLOYERS,)).applies
    assert not admit(cel, policy, repointed, current, ("leadgen:viewers",)).applies


@pytest.mark.parametrize("name", OVERLAYS)
def test_debug_containers_take_no_other_secret(name: str) -> None:
    cel, resources = _celpy(), overlay(name)
    policy = _policy(resources, name, "debug-containers")
    pod = _pod(find(resources, "Deployment", "api"))
    # What `leadgen k8s debug ENV shell` adds (kubectl debug --profile=restricted --target=app).
    debug = {"name": "debugger-x", "image": "busybox:1.37", "targetContainerName": "app", "stdin": True, "tty": True}
    debugged = copy.deepcopy(pod)
    debugged["spec"]["ephemeralContainers"] = [debug]
    assert admit(cel, policy, debugged, pod, OPERATOR).allowed
    # The pod's own Secrets (in dev by their generated names) stay allowed.
    same_secrets = copy.deepcopy(debugged)
    own = [{"secretRef": {"name": secret}} for secret in sorted(referenced_secrets(pod["spec"]))]
    same_secrets["spec"]["ephemeralContainers"][0]["envFrom"] = own
    assert admit(cel, policy, same_secrets, pod, OPERATOR).allowed
    for field in ("env", "envFrom"):
        stealing = copy.deepcopy(debugged)
        ref = {"name": TLS_SECRET, "key": "tls.key"}
        stealing["spec"]["ephemeralContainers"][0][field] = (
            [{"name": "X", "valueFrom": {"secretKeyRef": ref}}]
            if field == "env"
            else [{"secretRef": {"name": TLS_SECRET}}]
        )
        assert admit(cel, policy, stealing, pod, OPERATOR).denied, json.dumps(stealing["spec"]["ephemeralContainers"])
