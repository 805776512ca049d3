"""``leadgen k8s rollback ENV [SERVICE] [--to-revision N | --to-release R]``.

Shows each Deployment's history (revision, release, change cause, images), rolls back with an
explicit ``--to-revision`` (the one we showed, even if a rollout lands in between), follows the
rollout and verifies readiness from the cluster's own view (Deployment status, pods' Ready
conditions, the Service's ready endpoints).

With SERVICE, that Deployment goes back to its newest older revision that runs another release
or other images (the revision just before may be a ``kubectl rollout restart`` of the same
release), or to ``--to-revision``, and says which revisions it passed over; a server the
frontend calls gets a warning when the frontend stays on another release. Without it, every
application Deployment goes back to the previous *release* (``rules.release``): each to its
newest revision stamped with that release, and nothing changes unless every Deployment has one.
They go back in reverse wave order (``rules.waves``), the frontend first, so a rollback that stops
part way never leaves a frontend newer than the servers it calls; it then says which Deployments
went back and which did not. A release deployed after the running one (undoing a rollback) is
taken in deploy's order instead, the backends first, for the same reason. Migrations are never
rolled back; the command says where the schema stands before it asks for confirmation. After a
rollback the cluster differs from the overlay; the next ``deploy`` shows that in its diff (and
may need ``--force-conflicts``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from leadgen.ops import contract
from leadgen.ops.contract import Environment, Service
from leadgen.ops.diagnose import diagnose
from leadgen.ops.errors import KubectlError, RuleError, UsageError
from leadgen.ops.healthcheck import readiness_checks
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.namespace import ensure_namespace_cluster
from leadgen.ops.report import Failure, Prompter, Reporter, StepResult, Steps, StepStatus
from leadgen.ops.rules.health import Check, Status, exit_code
from leadgen.ops.rules.history import Revision, describe, revisions, rollback_target
from leadgen.ops.rules.release import release_rollback, schema_note, template_release
from leadgen.ops.rules.waves import FRONTEND_CALLS, rollback_order, rollout_order


@dataclass
class ServiceRollback:
    service: str
    history: list[Revision]
    from_revision: int | None = None
    to_revision: int | None = None
    skipped: str | None = None
    rolled_back: bool = False  # its rollout to to_revision finished
    # Revisions between the current one and the target that run what the current one runs.
    passed_over: list[int] = field(default_factory=list)


@dataclass
class RollbackResult(Steps):
    environment: str = ""
    namespace: str = ""
    listed_only: bool = False
    services: list[ServiceRollback] = field(default_factory=list)
    from_release: str | None = None
    to_release: str | None = None
    to_newer_release: bool = False  # undoing a rollback: the backends go first, as deploy takes them
    schema: str | None = None
    warnings: list[str] = field(default_factory=list)
    verification: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class RollbackRequest:
    """What to roll back: one service or all, to a revision, to a release, or one step back."""

    service: str | None = None
    to_revision: int | None = None
    to_release: str | None = None
    list_only: bool = False


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
    request: RollbackRequest,
    *,
    timeout: int,
    prod_confirmed: bool,
    reporter: Reporter,
    prompter: Prompter,
) -> RollbackResult:
    if request.to_revision is not None and request.service is None:
        raise UsageError("--to-revision needs a SERVICE: revision numbers differ per Deployment.")
    if request.to_revision is not None and request.to_release is not None:
        raise UsageError("Give --to-revision or --to-release, not both.")
    ensure_namespace_cluster(kubectl, env)
    result = RollbackResult(
        environment=env.value, namespace=kubectl.namespace or env.namespace, listed_only=request.list_only
    )
    names = [request.service] if request.service else rollback_order(contract.DEPLOYMENTS)
    result.services = [ServiceRollback(name, history(kubectl, name)) for name in names]
    if request.list_only:
        return result
    if request.service is None or request.to_release is not None:
        _plan_release(result, request.to_release, reporter)
    else:
        _plan_revision(result.services[0], request.to_revision, reporter)
    todo = [s for s in result.services if s.to_revision is not None]
    if not todo:
        return result
    result.schema = schema_note(*_schema_ends(todo[0]), newer=result.to_newer_release)
    reporter.info(result.schema)
    if request.service is not None:
        warning = _frontend_warning(kubectl, env, result.services[0])
        if warning is not None:
            result.warnings.append(warning)
            reporter.info(warning)
    if env is Environment.PROD and not prod_confirmed:
        plan = ", ".join(f"{s.service} {s.from_revision}→{s.to_revision}" for s in todo)
        if result.to_release:
            plan = f"release {result.from_release or '?'} → {result.to_release}: {plan}"
        if not prompter.confirm_typed(
            f"Roll back in {result.namespace}: {plan}. Type 'prod' to continue",
            "prod",
            hint="pass --yes-i-mean-prod to roll back prod without a terminal",
        ):
            raise UsageError("Rollback cancelled; nothing was changed.")
    for entry in todo:
        failure = _undo(kubectl, entry, timeout, result, reporter)
        if failure is not None:
            _stopped(env, result, todo, entry, failure, reporter)
            return result
    _verify(kubectl, [s.service for s in todo], result, reporter)
    return result


def _current(entry: ServiceRollback) -> Revision | None:
    return next((r for r in entry.history if r.current), None)


def _plan_revision(entry: ServiceRollback, to_revision: int | None, reporter: Reporter) -> None:
    target = rollback_target(entry.history, to_revision)
    current = _current(entry)
    entry.to_revision = target
    entry.from_revision = current.number if current else None
    if to_revision is not None or current is None:
        return
    entry.passed_over = [r.number for r in entry.history if target < r.number < current.number]
    if entry.passed_over:
        goes_to = next(r for r in entry.history if r.number == target)
        reporter.info(
            f"deployment/{entry.service}: revision {', '.join(map(str, entry.passed_over))} runs "
            f"{describe(current)} like the current revision {current.number} (a restart or an edit outside "
            f"deploy), so it goes back to revision {target}, {describe(goes_to)}; --to-revision picks another."
        )


def _plan_release(result: RollbackResult, to_release: str | None, reporter: Reporter) -> None:
    """Every listed Deployment to one release; refuses before any change if one cannot follow."""
    plan = release_rollback({s.service: s.history for s in result.services}, to_release)
    result.from_release, result.to_release = plan.current, plan.target
    if plan.newer:
        result.to_newer_release = True
        by_name = {s.service: s for s in result.services}
        result.services = [by_name[name] for name in rollout_order(by_name)]
        reporter.info(f"release {plan.target} is newer than {plan.current or 'the running one'}: the backends go first")
    for entry in result.services:
        current = _current(entry)
        if entry.service in plan.already:
            entry.skipped = f"already runs release {plan.target}"
            reporter.info(f"deployment/{entry.service}: skipped, {entry.skipped}")
            continue
        entry.from_revision = current.number if current else None
        entry.to_revision = plan.revisions[entry.service]


def _schema_ends(entry: ServiceRollback) -> tuple[Revision | None, Revision | None]:
    """The revision running now and the one a rollback goes to, for the schema note."""
    target = next((r for r in entry.history if r.number == entry.to_revision), None)
    return _current(entry), target


def _undo(
    kubectl: Kubectl,
    entry: ServiceRollback,
    timeout: int,
    result: RollbackResult,
    reporter: Reporter,
) -> Failure | None:
    """Roll one Deployment back and follow its rollout; what went wrong, if anything."""
    target = f"deployment/{entry.service}"
    step = f"rollback {target}"
    reporter.started(step, f"roll {target} back to revision {entry.to_revision}")
    try:
        kubectl.run("rollout", "undo", target, f"--to-revision={entry.to_revision}")
    except KubectlError as exc:
        return Failure(target, exc.message, hint=exc.hint)
    done = kubectl.run("rollout", "status", target, f"--timeout={timeout}s", check=False)
    if not done.ok:
        message = done.stderr.strip() or "rollout did not finish"
        return diagnose(kubectl, target, contract.selector_for(entry.service), message)
    entry.rolled_back = True
    finished = StepResult(step, StepStatus.OK, f"now on revision {entry.to_revision}")
    result.steps.append(finished)
    reporter.finished(finished)
    return None


def _stopped(
    env: Environment,
    result: RollbackResult,
    todo: list[ServiceRollback],
    failed: ServiceRollback,
    failure: Failure,
    reporter: Reporter,
) -> None:
    """Record the failure; for a release, also where each Deployment was left and how to finish."""
    if len(todo) > 1:
        target = result.to_release
        done = [s.service for s in todo if s.rolled_back]
        left = [s.service for s in todo[todo.index(failed) + 1 :]]
        parts = [f"rolled back to release {target}: {', '.join(done)}"] if done else []
        parts.append(f"not finished: {failed.service} (see above)")
        if left:
            parts.append(
                f"not rolled back, still on {result.from_release or 'their current release'}: {', '.join(left)}"
            )
        stopped = (
            f"Stopped part way; {'; '.join(parts)}. Fix {failed.service}, then run `leadgen k8s rollback "
            f"{env.value} --to-release {target}`: it skips what already runs {target} and rolls back the rest."
        )
        failure = dataclasses.replace(failure, hint=" ".join(filter(None, (failure.hint, stopped))))
    result.failure = failure
    step = StepResult(f"rollback deployment/{failed.service}", StepStatus.FAILED, failure.message)
    result.steps.append(step)
    reporter.finished(step)


def _frontend_warning(kubectl: Kubectl, env: Environment, entry: ServiceRollback) -> str | None:
    """A warning when a server the frontend calls goes to another release than the frontend
    runs: an older server refuses what a newer frontend sends (``rules.waves``)."""
    if entry.service not in FRONTEND_CALLS or entry.to_revision is None:
        return None
    frontend = template_release(kubectl.get_optional("deployment", Service.FRONTEND))
    target = next((r for r in entry.history if r.number == entry.to_revision), None)
    goes_to = target.release if target else None
    if frontend is None or frontend == goes_to:
        return None
    return (
        f"warning: the frontend stays on release {frontend} while {entry.service} goes back to "
        f"{f'release {goes_to}' if goes_to else f'revision {entry.to_revision}'}. An older "
        f"{entry.service} refuses what a newer frontend sends (422 on the quote form): roll back every "
        f"service instead (`leadgen k8s rollback {env.value}`, which takes the frontend back first), "
        f"or the frontend first (`leadgen k8s rollback {env.value} frontend`)."
    )


def _verify(kubectl: Kubectl, services: list[str], result: RollbackResult, reporter: Reporter) -> None:
    reporter.started("verify", "verify the rolled-back services")
    checks = readiness_checks(kubectl, services)
    result.verification = checks
    failed = [c for c in checks if c.status is Status.FAIL]
    # As health-check judges: a verification that could read nothing (no rights, a wrong context)
    # vouches for nothing.
    status = StepStatus.FAILED if exit_code(checks) else StepStatus.OK
    if failed or status is StepStatus.OK:
        detail = "; ".join(f"{c.name}: {c.detail}" for c in failed) or f"{len(checks)} check(s) passed"
    else:
        detail = "no check passed: " + "; ".join(f"{c.category}: {c.detail}" for c in checks)
    step = StepResult("verify", status, detail)
    result.steps.append(step)
    reporter.finished(step)
