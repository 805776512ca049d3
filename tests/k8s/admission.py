"""Read the rendered ValidatingAdmissionPolicies and evaluate them as the API server would.

:func:`admit` evaluates one policy for one request with cel-python (``celpy``): match
conditions first (any false: the policy does not apply), then the variables in order, then every
validation. It covers what the Kubernetes CEL environment and cel-python share (the standard
macros, ``has``, ``matches``, ``in``); the Kubernetes libraries (``authorizer``, ``quantity``,
``format``) are not provided, and the policies do not use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from .render import Resource, of_kind, pod_spec, workloads

POLICY = "ValidatingAdmissionPolicy"
BINDING = "ValidatingAdmissionPolicyBinding"
# Kustomize's hash suffix of a generated Secret (dev).
GENERATED_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


def policies(resources: list[Resource]) -> list[Resource]:
    return of_kind(resources, POLICY)


def variable(policy: Resource, name: str) -> str:
    """The CEL expression of one of a policy's variables."""
    for entry in policy["spec"].get("variables", []):
        if entry["name"] == name:
            expression: str = entry["expression"]
            return expression
    raise KeyError(f"{policy['metadata']['name']} has no variable {name}")


def string_list(expression: str) -> list[str]:
    """The members of a CEL list literal of single-quoted strings."""
    assert re.fullmatch(r"\[\s*('[^']*'\s*,\s*)*'[^']*'\s*\]", expression.strip()), expression
    return re.findall(r"'([^']*)'", expression)


def string_literal(expression: str) -> str:
    """The value of a CEL single-quoted string literal without escapes."""
    match = re.fullmatch(r"'([^'\\]*)'", expression.strip())
    assert match, expression
    return match.group(1)


def workload_service_accounts(resources: list[Resource]) -> set[str]:
    """The ServiceAccounts pods of the render run as: every workload's, and CloudNativePG's
    instances' (the Cluster's ``serviceAccountName``)."""
    names = {pod_spec(w).get("serviceAccountName", "default") for w in workloads(resources)}
    return names | {c["spec"]["serviceAccountName"] for c in of_kind(resources, "Cluster")}


def referenced_secrets(pod: dict[str, Any]) -> set[str]:
    """Every Secret a pod spec names: volumes, projected sources, env, envFrom, pull secrets."""
    names: set[str] = set()
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        names |= {s["secret"]["name"] for s in volume.get("projected", {}).get("sources", []) if "secret" in s}
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        names |= {f["secretRef"]["name"] for f in container.get("envFrom", []) if "secretRef" in f}
    return names | {s["name"] for s in pod.get("imagePullSecrets", [])}


def workload_secrets(resources: list[Resource]) -> set[str]:
    """The Secrets the workloads of a render name, without kustomize's hash suffix."""
    return {GENERATED_SUFFIX.sub("", name) for w in workloads(resources) for name in referenced_secrets(pod_spec(w))}


@dataclass(frozen=True)
class Verdict:
    applies: bool  # every match condition held
    denied: list[str]  # messages of the validations that failed

    @property
    def allowed(self) -> bool:
        return not self.denied


def admit(
    cel: ModuleType,
    policy: Resource,
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None,
    groups: tuple[str, ...],
) -> Verdict:
    """Evaluate ``policy`` for a request of a user in ``groups`` writing ``obj`` over ``old``."""

    def evaluate(expression: str, activation: dict[str, Any]) -> Any:
        return _program(cel, expression).evaluate(activation)

    activation: dict[str, Any] = {
        "object": cel.json_to_cel(obj),
        "oldObject": cel.json_to_cel(old),
        "request": cel.json_to_cel({"userInfo": {"groups": list(groups)}}),
    }
    spec = policy["spec"]
    if not all(evaluate(c["expression"], activation) for c in spec.get("matchConditions", [])):
        return Verdict(applies=False, denied=[])
    values: dict[Any, Any] = {}
    for entry in spec.get("variables", []):
        activation["variables"] = cel.celtypes.MapType(values)
        values[cel.celtypes.StringType(entry["name"])] = evaluate(entry["expression"], activation)
    activation["variables"] = cel.celtypes.MapType(values)
    denied = []
    for validation in spec["validations"]:
        result = evaluate(validation["expression"], activation)
        if not isinstance(result, cel.celtypes.BoolType) or not result:
            denied.append(validation["message"])
    return Verdict(applies=True, denied=denied)


@cache
def _program(cel: ModuleType, expression: str) -> Any:
    """A compiled expression (cel-python parses slowly, and the suite evaluates each one often)."""
    environment = cel.Environment()
    return environment.program(environment.compile(expression))


def compile_errors(cel: ModuleType, policy: Resource) -> list[str]:
    """Every expression of a policy that does not parse as CEL."""
    spec = policy["spec"]
    expressions = [c["expression"] for c in spec.get("matchConditions", [])]
    expressions += [v["expression"] for v in spec.get("variables", [])]
    expressions += [v["expression"] for v in spec["validations"]]
    errors = []
    for expression in expressions:
        try:
            cel.Environment().compile(expression)
        except cel.CELParseError as error:
            errors.append(f"{expression}: {error}")
    return errors
