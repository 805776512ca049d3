"""``leadgen k8s scale ENV SERVICE REPLICAS``.

Without an HPA this is ``kubectl scale``. With one, a manual count does not last (see
``rules.hpa``), so we say so and offer the change that does: raise or lower the HPA's bounds
(``--hpa``: minReplicas = REPLICAS, maxReplicas = max(maxReplicas, REPLICAS)). The HPA patch is
made with its own field manager, so the next ``deploy`` names it if the overlay disagrees.

minReplicas never goes below the environment's floor (``contract.REPLICA_FLOORS``, the overlay's
minimum): one pod under a PodDisruptionBudget of minAvailable 1 could never be evicted, and node
drains would stall. On prod every change needs the typed confirmation deploy and rollback ask for.

A maximum is never raised past PostgreSQL's connections: before a database client's maxReplicas
goes up (or, without an HPA, its replicas), the environment's worst case is worked out by
``rules.connections``, the arithmetic tests/k8s/test_connection_budget.py holds the overlays to, and
a maximum that would not fit is refused with its numbers. It is worked out from the cluster, not
from the overlay: the other HPAs' maxima as they are now (an earlier ``scale --hpa`` lives only
there), the pools in the ConfigMaps the Deployments use, and max_connections as the CloudNativePG
Cluster or the postgres StatefulSet and its ConfigMap give it. What the server runs with can
differ from that spec only until its restart, which both roll out by themselves.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import RuleError, UsageError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.namespace import ensure_namespace_cluster
from leadgen.ops.report import Prompter, Reporter, StepResult, StepStatus
from leadgen.ops.rules import connections
from leadgen.ops.rules.connections import MaximumCheck
from leadgen.ops.rules.hpa import HpaStatus, ScalePlan, hpa_status, plan_scale


class Action(enum.StrEnum):
    SCALE = "scale-deployment"
    HPA = "change-hpa-bounds"
    NOTHING = "nothing"


@dataclass
class ScaleResult:
    environment: str
    namespace: str
    plan: ScalePlan
    action: Action = Action.NOTHING
    replicas_after: int | None = None
    hpa_after: HpaStatus | None = None
    # The database connection budget with the raised maximum, when one is raised.
    connections: MaximumCheck | None = None

    @property
    def ok(self) -> bool:
        return self.plan.ok


def run_scale(
    kubectl: Kubectl,
    env: Environment,
    service: str,
    replicas: int,
    *,
    use_hpa: bool,
    yes: bool,
    prod_confirmed: bool,
    reporter: Reporter,
    prompter: Prompter,
) -> ScaleResult:
    ensure_namespace_cluster(kubectl, env)
    namespace = kubectl.namespace or env.namespace
    deployment = kubectl.get_optional("deployment", service)
    if deployment is None:
        raise RuleError(f"deployment/{service} does not exist in {namespace}")
    hpa = kubectl.get_optional("horizontalpodautoscaler", service)
    plan = plan_scale(service, replicas, deployment, hpa, contract.REPLICA_FLOORS[env])
    result = ScaleResult(env.value, namespace, plan)
    for warning in plan.warnings:
        reporter.info(f"warning: {warning}")
    if not plan.ok:
        raise UsageError("; ".join(plan.errors))
    if use_hpa and plan.hpa is None:
        raise UsageError(f"--hpa: {service} has no HorizontalPodAutoscaler; scale it directly.")
    if use_hpa and not plan.hpa_change_allowed:
        raise UsageError(
            f"--hpa: minReplicas {replicas} is below {env.value}'s floor of {plan.floor}.",
            hint="The overlay keeps every HPA at that minimum, above the PodDisruptionBudgets' "
            "minAvailable, so node drains can always evict a pod. Lower it in the overlay if you must.",
        )
    # The HPA change is made with --hpa, or offered on a terminal unless --yes scales directly.
    hpa_change = plan.hpa_change_allowed and (use_hpa or not yes)
    result.connections = _check_connections(kubectl, env, deployment, plan, hpa_change=hpa_change)
    fits = _within_budget(result.connections, namespace, use_hpa=use_hpa, reporter=reporter)  # or refuses
    hpa_change = hpa_change and fits
    result.action = _choose(plan, service, namespace, use_hpa=use_hpa, yes=yes, offer_hpa=hpa_change, prompter=prompter)
    if result.action is Action.NOTHING:
        raise UsageError("Scale cancelled; nothing was changed.")
    if env is Environment.PROD and not prod_confirmed:
        _confirm_prod(plan, result.action, namespace, prompter)
    if result.action is Action.HPA:
        patch = {"spec": {"minReplicas": plan.suggested_min, "maxReplicas": plan.suggested_max}}
        step = f"patch hpa/{service}"
        reporter.started(step, f"set HPA bounds to [{plan.suggested_min}, {plan.suggested_max}]")
        kubectl.run(
            "patch",
            "horizontalpodautoscaler",
            service,
            "--type=merge",
            f"--field-manager={contract.SCALE_FIELD_MANAGER}",
            "--patch",
            json.dumps(patch),
        )
    else:
        step = f"scale deployment/{service}"
        reporter.started(step, f"scale to {replicas}")
        kubectl.run("scale", f"deployment/{service}", f"--replicas={replicas}")
    reporter.finished(StepResult(step, StepStatus.OK, "done"))
    after = kubectl.get("deployment", service)
    result.replicas_after = int((after.get("spec") or {}).get("replicas", 0))
    if plan.hpa is not None:
        result.hpa_after = hpa_status(kubectl.get("horizontalpodautoscaler", service))
    return result


def _within_budget(check: MaximumCheck | None, namespace: str, *, use_hpa: bool, reporter: Reporter) -> bool:
    """Whether the maximum fits: refused when it was asked for (``--hpa``, or replicas without an
    HPA), and only not offered when it would have been offered instead of a manual count."""
    if check is None or check.fits:
        if check is not None:
            reporter.info(check.message)
        return True
    if use_hpa or check.bound == "replicas":
        raise UsageError(
            f"{'--hpa: ' if use_hpa else ''}In {namespace}: {check.message}",
            hint="Raise max_connections (and the server's memory) in the overlay first: "
            "docs/KUBERNETES_SETUP.md, datastore notes.",
        )
    reporter.info(f"warning: the HPA change is not offered: {check.message}")
    return False


def _check_connections(
    kubectl: Kubectl, env: Environment, deployment: dict[str, Any], plan: ScalePlan, *, hpa_change: bool
) -> MaximumCheck | None:
    """The connection budget with the maximum this change would raise: the HPA's maxReplicas when
    its bounds may change, a Deployment's replicas when it has no HPA. None when no maximum goes up
    (a manual count under an HPA lasts until its next sync) or the Deployment uses no database."""
    if connections.served_target(deployment) not in connections.ENGINES:
        return None
    if plan.hpa is not None:
        maximum, bound = plan.suggested_max or 0, "maxReplicas"
        if not hpa_change or maximum <= plan.hpa.max_replicas:
            return None
    else:
        maximum, bound = plan.replicas, "replicas"
        if maximum <= plan.current:
            return None
    objects = _budget_objects(kubectl, env)
    unaccounted = connections.budget_of(objects).unaccounted
    if unaccounted:
        raise RuleError(
            f"Cannot work out the database connection budget: {', '.join(unaccounted)} "
            f"{'uses' if len(unaccounted) == 1 else 'use'} the database but run"
            f"{'s' if len(unaccounted) == 1 else ''} no target leadgen knows.",
            hint="Remove them, or change the maximum in the overlay, where "
            "tests/k8s/test_connection_budget.py checks it.",
        )
    return connections.check_maximum(objects, plan.service, maximum, bound=bound)


def _budget_objects(kubectl: Kubectl, env: Environment) -> connections.Objects:
    """What the connection budget reads, from the cluster."""
    if env.uses_cnpg:
        postgres = kubectl.get_optional("clusters.postgresql.cnpg.io", contract.POSTGRES)
    else:
        postgres = kubectl.get_optional("statefulset", contract.POSTGRES)
    if postgres is None:
        kind = "CloudNativePG Cluster" if env.uses_cnpg else "StatefulSet"
        raise RuleError(
            f"Cannot work out the database connection budget: no {kind} {contract.POSTGRES} "
            f"in {kubectl.namespace or env.namespace}, so max_connections is unknown.",
            hint="Deploy the environment first, or check --namespace.",
        )
    return connections.Objects(
        deployments=tuple(kubectl.items("deployments")),
        autoscalers=tuple(kubectl.items("horizontalpodautoscalers")),
        config_maps=tuple(kubectl.items("configmaps")),
        postgres=postgres,
    )


def _confirm_prod(plan: ScalePlan, action: Action, namespace: str, prompter: Prompter) -> None:
    change = (
        f"set HPA {plan.service} bounds to [{plan.suggested_min}, {plan.suggested_max}]"
        if action is Action.HPA
        else f"scale deployment/{plan.service} from {plan.current} to {plan.replicas}"
    )
    if not prompter.confirm_typed(
        f"In {namespace}: {change}. Type 'prod' to continue",
        "prod",
        hint="pass --yes-i-mean-prod to change prod without a terminal",
    ):
        raise UsageError("Scale cancelled; nothing was changed.")


def _choose(
    plan: ScalePlan, service: str, namespace: str, *, use_hpa: bool, yes: bool, offer_hpa: bool, prompter: Prompter
) -> Action:
    if use_hpa:
        if yes or prompter.confirm(
            f"Set HPA {service} bounds to [{plan.suggested_min}, {plan.suggested_max}] in {namespace}?",
            hint="pass --yes to confirm without a terminal",
        ):
            return Action.HPA
        return Action.NOTHING
    if yes:
        return Action.SCALE
    if offer_hpa and prompter.confirm(
        f"Change the HPA bounds to [{plan.suggested_min}, {plan.suggested_max}] instead, so the count lasts?",
        hint="pass --hpa --yes (change the HPA) or --yes (scale anyway) without a terminal",
    ):
        return Action.HPA
    question = (
        f"Scale deployment/{service} in {namespace} from {plan.current} to {plan.replicas} anyway?"
        if plan.hpa is not None
        else f"Scale deployment/{service} in {namespace} from {plan.current} to {plan.replicas}?"
    )
    if prompter.confirm(question, hint="pass --yes to confirm without a terminal"):
        return Action.SCALE
    return Action.NOTHING
