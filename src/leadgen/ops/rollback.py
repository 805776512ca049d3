"""``leadgen k8s rollback ENV [SERVICE] [--to-revision N]``.

Shows each Deployment's history (revision, change cause, images), rolls back with an explicit
``--to-revision`` (the one we showed, even if a rollout lands in between), follows the rollout
and verifies the Deployment and its ``/readyz``.

Without SERVICE every application Deployment goes back one revision; one with a single revision
is skipped with a warning. After a rollback the cluster differs from the overlay; the next
``deploy`` shows that in its diff (and may need ``--force-conflicts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.diagnose import diagnose
from leadgen.ops.errors import KubectlError, RuleError, UsageError
from leadgen.ops.healthcheck import deployment_checks, readiness_checks
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.report import Failure, Prompter, Reporter, StepResult, Steps, StepStatus
from leadgen.ops.rules.health import Check, Status
from leadgen.ops.rules.history import Revision, revisions, rollback_target


@dataclass
class ServiceRollback:
    service: str
    history: list[Revision]
    from_revision: int | None = None
    to_revision: int | None = None
    skipped: str | None = None


@dataclass
class RollbackResult(Steps):
    environment: str = ""
    namespace: str = ""
    listed_only: bool = False
    services: list[ServiceRollback] = field(default_factory=list)
    verification: list[Check] = field(default_factory=list)


def history(kubectl: Kubectl, service: str) -> list[Revision]:
    """The revisions of one Deployment, joined with its ReplicaSets."""
    deployment = kubectl.get_optional("deployment", service)
    if deployment is None:
        raise RuleError(f"deployment/{service} does not exist in {kubectl.namespace}")
    text = kubectl.run("rollout", "history", f"deployment/{service}").stdout
    replica_sets = kubectl.get("replicasets", selector=contract.selector_for(service))
    return revisions(text, replica_sets, deployment)


def run_rollback(
    kubectl: Kubectl,
    env: Environment,
    service: str | None,
    *,
    to_revision: int | None,
    list_only: bool,
    timeout: int,
    prod_confirmed: bool,
    reporter: Reporter,
    prompter: Prompter,
) -> RollbackResult:
    if to_revision is not None and service is None:
        raise UsageError("--to-revision needs a SERVICE: revision numbers differ per Deployment.")
    kubectl.ensure_context()
    result = RollbackResult(environment=env.value, namespace=kubectl.namespace or env.namespace, listed_only=list_only)
    names = [service] if service else list(contract.DEPLOYMENTS)
    for name in names:
        entry = ServiceRollback(name, history(kubectl, name))
        result.services.append(entry)
        if list_only:
            continue
        current = next((r.number for r in entry.history if r.current), None)
        try:
            entry.to_revision = rollback_target(entry.history, to_revision)
            entry.from_revision = current
        except RuleError as exc:
            if service is not None:
                raise
            entry.skipped = exc.message
            reporter.info(f"deployment/{name}: skipped, {exc.message}")
    todo = [s for s in result.services if s.to_revision is not None]
    if list_only or not todo:
        return result
    if env is Environment.PROD and not prod_confirmed:
        plan = ", ".join(f"{s.service} {s.from_revision}→{s.to_revision}" for s in todo)
        if not prompter.confirm_typed(
            f"Roll back in {result.namespace}: {plan}. Type 'prod' to continue",
            "prod",
            hint="pass --yes-i-mean-prod to roll back prod without a terminal",
        ):
            raise UsageError("Rollback cancelled; nothing was changed.")
    for entry in todo:
        if not _undo(kubectl, entry, timeout, result, reporter):
            return result
    _verify(kubectl, [s.service for s in todo], result, reporter)
    return result


def _undo(
    kubectl: Kubectl,
    entry: ServiceRollback,
    timeout: int,
    result: RollbackResult,
    reporter: Reporter,
) -> bool:
    target = f"deployment/{entry.service}"
    step = f"rollback {target}"
    reporter.started(step, f"roll {target} back to revision {entry.to_revision}")
    try:
        kubectl.run("rollout", "undo", target, f"--to-revision={entry.to_revision}")
    except KubectlError as exc:
        return _failed(result, reporter, step, Failure(target, exc.message, hint=exc.hint))
    done = kubectl.run("rollout", "status", target, f"--timeout={timeout}s", check=False)
    if not done.ok:
        message = done.stderr.strip() or "rollout did not finish"
        failure = diagnose(kubectl, target, contract.selector_for(entry.service), message)
        return _failed(result, reporter, step, failure)
    finished = StepResult(step, StepStatus.OK, f"now on revision {entry.to_revision}")
    result.steps.append(finished)
    reporter.finished(finished)
    return True


def _failed(result: RollbackResult, reporter: Reporter, step: str, failure: Failure) -> bool:
    result.failure = failure
    failed = StepResult(step, StepStatus.FAILED, failure.message)
    result.steps.append(failed)
    reporter.finished(failed)
    return False


def _verify(kubectl: Kubectl, services: list[str], result: RollbackResult, reporter: Reporter) -> None:
    reporter.started("verify", "verify the rolled-back services")
    checks = deployment_checks(kubectl, services)
    ports = {s: p for s, p in contract.SERVICE_PORTS.items() if s in services}
    checks += readiness_checks(kubectl, result.namespace, ports)
    result.verification = checks
    failed = [c for c in checks if c.status is Status.FAIL]
    status = StepStatus.FAILED if failed else StepStatus.OK
    detail = "; ".join(f"{c.name}: {c.detail}" for c in failed) or f"{len(checks)} check(s) passed"
    step = StepResult("verify", status, detail)
    result.steps.append(step)
    reporter.finished(step)
