"""Which environment's rules apply in the namespace a command acts on.

``--namespace`` chooses where a command acts; the environment argument chooses the rules: prod's
typed confirmation, each environment's replica floor, the datastores to expect. Those must be
the rules of the namespace's own environment, or ``scale dev worker 1 --yes --namespace
leadgen-prod`` would change prod unconfirmed and below its floor. A namespace belongs to the
environment its name says (``leadgen-<env>``, ``leadgen-<env>-<suffix>``) and to the one its
``leadgen-cluster-settings`` ConfigMap states (``environment``, set by each overlay): a copy of
prod in a namespace of any name is prod. A command whose environment differs from either is
refused before it reads or changes anything else; a namespace that says nothing takes the
environment given.

Which cluster an environment runs in is stated the same way, in the overlay's settings
(``kubeContext``): a command that renders the overlay (deploy, health-check) refuses any other
kubeconfig context, so ``deploy prod`` never lands on a laptop's cluster because that was the
current context.
"""

from __future__ import annotations

from collections.abc import Iterable

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import ContextError, KubectlError, UsageError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.rules.manifests import Resource


def stated_environment(kubectl: Kubectl) -> Environment | None:
    """The environment the namespace's cluster settings state, if they exist and say one."""
    try:
        settings = kubectl.get_optional("configmap", contract.CLUSTER_SETTINGS)
    except KubectlError as exc:
        if exc.forbidden:
            return None
        raise
    value = ((settings or {}).get("data") or {}).get(contract.CLUSTER_SETTINGS_ENVIRONMENT)
    return Environment(value) if value in set(Environment) else None


def ensure_environment(kubectl: Kubectl, env: Environment) -> None:
    """Refuse to act with ``env``'s rules in another environment's namespace."""
    namespace = kubectl.namespace or env.namespace
    if namespace == env.namespace:
        return
    named = contract.environment_named(namespace)
    if named is not None and named is not env:
        raise _mismatch(namespace, env, named, "by its name")
    stated = stated_environment(kubectl)
    if stated is not None and stated is not env:
        raise _mismatch(namespace, env, stated, f"by its ConfigMap {contract.CLUSTER_SETTINGS}")


def _mismatch(namespace: str, env: Environment, actual: Environment, how: str) -> UsageError:
    return UsageError(
        f"Namespace {namespace} belongs to {actual.value} ({how}), not {env.value}; nothing was changed.",
        hint=f"Name the environment it belongs to ({actual.value}), so that {actual.value}'s rules apply "
        "(prod: the typed confirmation; every environment: its replica floor).",
    )


def expected_context(resources: Iterable[Resource]) -> str | None:
    """The context the rendered cluster settings name for the environment; None when they name
    none (dev: any context)."""
    for res in resources:
        if res.kind == "ConfigMap" and res.name == contract.CLUSTER_SETTINGS:
            value = (res.body.get("data") or {}).get(contract.CLUSTER_SETTINGS_KUBE_CONTEXT)
            return str(value) if value else None
    return None


def ensure_cluster(context: str, env: Environment, expected: str | None) -> None:
    """Refuse to act on ``env`` through a context other than the one its overlay names."""
    if expected is None or context == expected:
        return
    raise ContextError(
        f"Context {context} is not {env.value}'s: the overlay's {contract.CLUSTER_SETTINGS} "
        f"({contract.CLUSTER_SETTINGS_KUBE_CONTEXT}) names {expected}; nothing was changed.",
        hint=f"Pass --context {expected} (or run `kubectl config use-context {expected}`). If your kubeconfig "
        f"names {env.value}'s cluster otherwise, rename that context: `kubectl config rename-context NAME {expected}`.",
    )
