"""``leadgen k8s scale ENV SERVICE REPLICAS``.

Without an HPA this is ``kubectl scale``. With one, a manual count does not last (see
``rules.hpa``), so we say so and offer the change that does: raise or lower the HPA's bounds
(``--hpa``: minReplicas = REPLICAS, maxReplicas = max(maxReplicas, REPLICAS)). The HPA patch is
made with its own field manager, so the next ``deploy`` names it if the overlay disagrees.

minReplicas never goes below the environment's floor (``contract.REPLICA_FLOORS``, the overlay's
minimum): one pod under a PodDisruptionBudget of minAvailable 1 could never be evicted, and node
drains would stall. On prod every change needs the typed confirmation deploy and rollback ask for.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.errors import RuleError, UsageError
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.report import Prompter, Reporter, StepResult, StepStatus
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
    kubectl.ensure_context()
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
    result.action = _choose(plan, service, namespace, use_hpa=use_hpa, yes=yes, prompter=prompter)
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


def _choose(plan: ScalePlan, service: str, namespace: str, *, use_hpa: bool, yes: bool, prompter: Prompter) -> Action:
    if use_hpa:
        if yes or prompter.confirm(
            f"Set HPA {service} bounds to [{plan.suggested_min}, {plan.suggested_max}] in {namespace}?",
            hint="pass --yes to confirm without a terminal",
        ):
            return Action.HPA
        return Action.NOTHING
    if yes:
        return Action.SCALE
    if plan.hpa_change_allowed and prompter.confirm(
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
