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

rollback, scale and debug render nothing, and may run where no overlay is (an installed CLI), so
they read ``kubeContext`` from the namespace's own ``leadgen-cluster-settings``, the copy deploy
applied there (``ensure_namespace_cluster``). That copy, not the checkout's, catches both cases: a
laptop's ``leadgen-prod`` made from the overlay names ``leadgen-prod``, not the laptop's context;
a namespace deployed with an overridden context (the release pipeline writes its own values
before rendering) names the one it was deployed through, which a checkout's overlay would
wrongly refuse. Where the settings cannot say (the ConfigMap is missing, names no context, or may
not be read) the environment's documented context applies (``contract.DOCUMENTED_CONTEXTS``):
neither a hand-made namespace nor a forbidden read lifts the check for staging or prod.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


OVERLAY_SETTINGS = f"the overlay's {contract.CLUSTER_SETTINGS} ({contract.CLUSTER_SETTINGS_KUBE_CONTEXT})"
NAMESPACE_SETTINGS = f"the namespace's {contract.CLUSTER_SETTINGS} ({contract.CLUSTER_SETTINGS_KUBE_CONTEXT})"


@dataclass(frozen=True)
class ExpectedContext:
    """The context an environment's namespace may be acted on through (None: any), and what says so."""

    context: str | None
    source: str


def namespace_context(kubectl: Kubectl, env: Environment) -> ExpectedContext:
    """The context the namespace's own cluster settings name; where they cannot say, ``env``'s
    documented one."""
    try:
        settings = kubectl.get_optional("configmap", contract.CLUSTER_SETTINGS)
    except KubectlError as exc:
        if not exc.forbidden:
            raise
        return _documented(env, "may not be read")
    if settings is None:
        return _documented(env, "does not exist")
    data = settings.get("data") or {}
    if contract.CLUSTER_SETTINGS_KUBE_CONTEXT not in data:
        return _documented(env, f"names no {contract.CLUSTER_SETTINGS_KUBE_CONTEXT}")
    return ExpectedContext(str(data[contract.CLUSTER_SETTINGS_KUBE_CONTEXT] or "") or None, NAMESPACE_SETTINGS)


def _documented(env: Environment, why: str) -> ExpectedContext:
    source = f"docs/KUBERNETES_SETUP.md (the namespace's {contract.CLUSTER_SETTINGS} {why})"
    return ExpectedContext(contract.DOCUMENTED_CONTEXTS[env], source)


def ensure_namespace_cluster(kubectl: Kubectl, env: Environment) -> str:
    """The context kubectl uses, refused unless it is the one ``env``'s namespace names."""
    context = kubectl.ensure_context()
    expected = namespace_context(kubectl, env)
    ensure_cluster(context, env, expected.context, source=expected.source)
    return context


def ensure_cluster(context: str, env: Environment, expected: str | None, *, source: str = OVERLAY_SETTINGS) -> None:
    """Refuse to act on ``env`` through a context other than the one ``source`` (by default its
    overlay's settings) names."""
    if expected is None or context == expected:
        return
    raise ContextError(
        f"Context {context} is not {env.value}'s: {source} names {expected}; nothing was changed.",
        hint=f"Pass --context {expected} (or run `kubectl config use-context {expected}`). If your kubeconfig "
        f"names {env.value}'s cluster otherwise, rename that context: `kubectl config rename-context NAME {expected}`.",
    )
