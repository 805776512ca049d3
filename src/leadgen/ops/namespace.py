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
"""

from __future__ import annotations

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import KubectlError, UsageError
from leadgen.ops.kubectl import Kubectl


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
