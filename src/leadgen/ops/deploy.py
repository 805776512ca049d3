"""``leadgen k8s deploy ENV``: render, validate, diff, migrate, apply, wait, check.

Order, and why:

1. render ``k8s/overlays/ENV`` with ``kubectl kustomize`` and validate it (no cluster needed),
   then stamp the release on the app pod templates (``rules.release``);
2. check the kubeconfig context and the namespace. A role that may not read the Namespace (the
   namespaced ``leadgen-deployer``) is not the one to manage it: the bootstrap objects (the
   cluster-scoped ones and RBAC, which an admin applies once) are then left out, as with
   ``--skip-bootstrap``;
3. ``kubectl diff --server-side`` (exit 1 means "differences", above 1 an error);
4. prod only: confirm (``--yes-i-mean-prod`` or a typed prompt);
5. apply the prerequisites (namespace, accounts, config, secrets, policies, services, stores)
   and wait for the stores: the migration Job needs its config, its network policy and the
   database to exist;
6. run the migration Job ``db-migrate`` and wait for it, *before* any new application code
   starts, so no replica runs against an old schema. Jobs are immutable, so we delete the
   previous ``db-migrate`` Job (and its pods) first and create it again under the same name:
   ``kubectl logs job/db-migrate`` keeps working and no old Jobs pile up. Only a finished one:
   while it is active (an earlier deploy's migration still running or retrying, or a concurrent
   deploy's) deploy refuses, since deleting it could stop a migration midway. The wait lasts the
   Job's own ``activeDeadlineSeconds`` (and a little more) unless ``--migration-timeout`` says
   otherwise, and stops at once when the Job's pod cannot start. The Job is left out of every
   other apply, so a finished Job removed by its TTL is never re-created by accident;
7. apply the application workloads (Deployments, HPAs, CronJobs) in waves (``rules.waves``):
   first the backends the frontend calls, then the frontend, each wave's Deployments rolled out
   before the next wave is applied. An api of the previous release refuses what the new
   frontend sends, and a failed rollout leaves the later waves on the previous release;
8. run the health check. Only its failures about what this deploy rolled out (its Deployments,
   StatefulSets, CloudNativePG Cluster and the migration Job) fail the deploy; any other (a node
   NotReady, an old failed backup Job) is reported as a warning.

Every apply is server-side with field manager ``leadgen``. A dry run shows the waves and stops
after the diff with an apply ``--dry-run``: server-side for ``server``; for ``client`` a plain
client-side apply, since kubectl refuses ``--dry-run=client`` together with ``--server-side``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.diagnose import diagnose
from leadgen.ops.errors import KubectlError, UsageError
from leadgen.ops.healthcheck import HealthReport, run_health
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.report import Failure, Prompter, Reporter, StepResult, Steps, StepStatus
from leadgen.ops.rules import health, workloads
from leadgen.ops.rules.health import Status
from leadgen.ops.rules.manifests import CLUSTER_SCOPED, Finding, Resource, active_deadline, validate_rendered
from leadgen.ops.rules.release import app_image_tag, release_name, stamp, template_release
from leadgen.ops.rules.waves import WORKLOAD_KINDS, Wave, in_waves

# What an admin applies once per environment (docs/KUBERNETES_DEPLOYMENT.md): cluster-scoped
# objects, and the RBAC that grants the deployer its rights (it cannot grant them to itself).
BOOTSTRAP_KINDS = CLUSTER_SCOPED | {"Role", "RoleBinding"}
CNPG_CLUSTER = "clusters.postgresql.cnpg.io"
BOOTSTRAP_DOCS = "docs/KUBERNETES_DEPLOYMENT.md#who-applies-what"
# How long past the migration Job's activeDeadlineSeconds deploy waits by default: the Job
# controller fails the Job at its deadline (DeadlineExceeded), and deploy reports that verdict
# and the pod's reason rather than a timeout of its own.
DEADLINE_MARGIN = 30
# What a health check judges by name that a deploy rolls out; its other checks do not fail one.
ROLLED_OUT_KINDS = frozenset({"Deployment", "StatefulSet", "Cluster"})


class DryRun(enum.StrEnum):
    CLIENT = "client"
    SERVER = "server"


class NamespaceState(enum.StrEnum):
    EXISTS = "exists"
    MISSING = "missing"
    FORBIDDEN = "forbidden"  # our role may not read it: it exists, and is an admin's to manage


@dataclass(frozen=True)
class Shipped:
    """The leadgen this CLI is: its version and the newest migration it ships."""

    version: str
    schema_head: str | None


@dataclass(frozen=True)
class DeployOptions:
    env: Environment
    overlay: Path
    namespace: str
    dry_run: DryRun | None = None
    diff: bool = True
    rollout_timeout: int = 300
    migration_timeout: int | None = None  # None: the Job's activeDeadlineSeconds + DEADLINE_MARGIN
    poll_interval: float = 2.0
    health_check: bool = True
    deep_health: bool = False
    force_conflicts: bool = False
    prod_confirmed: bool = False
    skip_bootstrap: bool = False
    shipped: Shipped | None = None


@dataclass
class DeployResult(Steps):
    environment: str = ""
    namespace: str = ""
    context: str | None = None
    dry_run: str | None = None
    release: str | None = None
    schema_head: str | None = None
    left_out: list[str] = field(default_factory=list)
    # The workloads (kind/name) of each wave, in the order they are applied.
    waves: dict[str, list[str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    diff: str | None = None
    health: HealthReport | None = None


class StepFailedError(Exception):
    """Stops the deploy; the Failure is already recorded."""


@dataclass
class Plan:
    """The rendered overlay cut into the phases of the deploy."""

    prerequisites: list[Resource]
    migration: Resource | None
    waves: list[tuple[Wave, list[Resource]]]

    @classmethod
    def of(cls, resources: Sequence[Resource]) -> Plan:
        migration = next((r for r in resources if r.kind == "Job" and r.name == contract.MIGRATION_JOB), None)
        rest = [r for r in resources if r is not migration]
        return cls(
            [r for r in rest if r.kind not in WORKLOAD_KINDS],
            migration,
            in_waves([r for r in rest if r.kind in WORKLOAD_KINDS]),
        )

    @property
    def workloads(self) -> list[Resource]:
        return [res for _, members in self.waves for res in members]

    @property
    def all_but_migration(self) -> list[Resource]:
        return self.prerequisites + self.workloads


def migration_timeout(job: Resource, given: int | None) -> int:
    """How long deploy waits for the migration Job: ``given`` (``--migration-timeout``), else the
    Job's own deadline and ``DEADLINE_MARGIN`` (validation refuses a Job without one)."""
    if given is not None:
        return given
    deadline = active_deadline(job)
    assert deadline is not None, "validation refuses a migration Job without activeDeadlineSeconds"
    return deadline + DEADLINE_MARGIN


def to_yaml(resources: list[Resource]) -> str:
    return yaml.safe_dump_all([r.body for r in resources], sort_keys=False)


class Deployer:
    """Runs one deploy; see the module docstring for the order."""

    def __init__(
        self,
        kubectl: Kubectl,
        options: DeployOptions,
        reporter: Reporter,
        prompter: Prompter,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kubectl = kubectl
        self.opts = options
        self.reporter = reporter
        self.prompter = prompter
        self.skip_bootstrap = options.skip_bootstrap
        self.sleep = sleep
        self.clock = clock
        self.result = DeployResult(
            environment=options.env.value,
            namespace=options.namespace,
            dry_run=options.dry_run.value if options.dry_run else None,
        )

    def run(self) -> DeployResult:
        with contextlib.suppress(StepFailedError):
            self._run()
        return self.result

    def _run(self) -> None:
        resources = self._render_and_validate()
        self.result.context = self.kubectl.ensure_context()
        namespace = self._namespace_state()
        plan = self._plan(resources, namespace)
        self._show_waves(plan)
        if self.opts.diff:
            self._diff(plan, namespace)
        if self.opts.dry_run is not None:
            self._apply("dry-run", f"apply --dry-run={self.opts.dry_run}", plan.all_but_migration)
            self.reporter.info(
                f"Job/{contract.MIGRATION_JOB} is deleted (once finished) and created again on a real deploy."
            )
            return
        self._confirm_prod()
        self._apply("apply-prerequisites", "apply configuration, policies and stores", plan.prerequisites)
        self._wait_for_stores(plan)
        if plan.migration is not None:
            self._migrate(plan.migration)
        for index, (wave, members) in enumerate(plan.waves):
            self._apply(f"apply-{wave}", f"apply wave {wave.number} ({wave}) of the workloads", members)
            held_back = plan.waves[index + 1 :]
            for res in members:
                if res.kind == "Deployment":
                    self._rollout("deployment", res.name, held_back=held_back)
        if self.opts.health_check:
            self._health(plan)

    # --- steps -----------------------------------------------------------------------------

    def _render_and_validate(self) -> tuple[Resource, ...]:
        self.reporter.started("render", f"render {self.opts.overlay}")
        try:
            text = self.kubectl.kustomize(self.opts.overlay)
        except KubectlError as exc:
            self._fail("render", f"kustomize {self.opts.overlay}", exc.message, hint=exc.hint)
        self._done("render", StepStatus.OK, f"{self.opts.overlay}")
        self.reporter.started("validate", "validate the rendered manifests")
        report = validate_rendered(text, self.opts.env, self.opts.namespace)
        self.result.findings = list(report.findings)
        if report.findings:
            self.reporter.findings(self.result.findings)
        if not report.ok:
            self._fail(
                "validate",
                "manifests",
                f"{len(report.errors)} error(s) in the rendered overlay",
                hint="Fix the overlay; `leadgen k8s validate ENV` repeats these checks.",
            )
        detail = f"{len(report.resources)} resources"
        if report.warnings:
            detail += f", {len(report.warnings)} warning(s)"
        status = StepStatus.WARNING if report.warnings else StepStatus.OK
        self._done("validate", status, detail)
        return report.resources

    def _namespace_state(self) -> NamespaceState:
        try:
            found = self.kubectl.get_optional("namespace", self.opts.namespace, namespaced=False)
        except KubectlError as exc:
            if not exc.forbidden:
                raise
            self.skip_bootstrap = True
            self.reporter.info(
                f"Your role may not read Namespace {self.opts.namespace} (a namespaced role such as "
                "leadgen-deployer): taking it to exist and to be managed by an admin, so the "
                "cluster-scoped objects and RBAC are left out."
            )
            return NamespaceState.FORBIDDEN
        return NamespaceState.EXISTS if found is not None else NamespaceState.MISSING

    def _plan(self, resources: tuple[Resource, ...], namespace: NamespaceState) -> Plan:
        """Stamp the release, and leave out the bootstrap objects when they are not ours to apply."""
        head = self._schema_head(resources)
        release = release_name(resources, head)
        self.result.release, self.result.schema_head = release, head
        self.reporter.info(f"release {release}" + (f", Alembic head {head}" if head else ""))
        stamped = stamp(resources, release, head)
        if not self.skip_bootstrap:
            return Plan.of(stamped)
        if namespace is NamespaceState.MISSING:
            self._fail(
                "bootstrap",
                f"Namespace/{self.opts.namespace}",
                "does not exist, and --skip-bootstrap creates no Namespace",
                hint=f"An admin deploys the environment once without --skip-bootstrap ({BOOTSTRAP_DOCS}).",
            )
        left_out = [r for r in stamped if r.kind in BOOTSTRAP_KINDS]
        self.result.left_out = [r.ref for r in left_out]
        if left_out:
            self.reporter.info(
                f"Left out {len(left_out)} object(s) an admin applies ({BOOTSTRAP_DOCS}): "
                + ", ".join(self.result.left_out)
            )
        return Plan.of([r for r in stamped if r.kind not in BOOTSTRAP_KINDS])

    def _show_waves(self, plan: Plan) -> None:
        self.result.waves = {wave.value: [r.ref for r in members] for wave, members in plan.waves}
        for wave, members in plan.waves:
            self.reporter.info(f"wave {wave.number} ({wave}): {_by_kind(members)}")

    def _schema_head(self, resources: tuple[Resource, ...]) -> str | None:
        """The Alembic head this release migrates to, when this CLI ships the same release's
        migrations (same version as the app image tag); otherwise unknown, and said so."""
        shipped = self.opts.shipped
        if shipped is None or shipped.schema_head is None:
            return None
        tag = app_image_tag(resources)
        if tag != shipped.version:
            self.reporter.info(
                f"Alembic head not recorded: this CLI is leadgen {shipped.version}, the overlay "
                f"deploys image tag {tag or '(none)'}, and their migrations may differ."
            )
            return None
        return shipped.schema_head

    def _diff(self, plan: Plan, namespace: NamespaceState) -> None:
        self.reporter.started("diff", "diff against the cluster")
        if namespace is NamespaceState.MISSING:
            self._done("diff", StepStatus.SKIPPED, f"namespace {self.opts.namespace} does not exist yet")
            return
        args = ["diff", "--server-side", f"--field-manager={contract.FIELD_MANAGER}"]
        if self.opts.force_conflicts:
            args.append("--force-conflicts")
        done = self.kubectl.run(*args, "-f", "-", stdin=to_yaml(plan.all_but_migration), check=False)
        if done.returncode > 1:  # kubectl diff: 0 no differences, 1 differences, >1 error
            err = KubectlError(args, done.returncode, done.stderr)
            self._fail("diff", "diff", err.message, hint=err.hint)
        self.result.diff = done.stdout
        if done.stdout:
            self.reporter.diff(done.stdout)
        changed = done.returncode == 1
        self._done("diff", StepStatus.OK, "changes found" if changed else "no changes")

    def _confirm_prod(self) -> None:
        if self.opts.env is not Environment.PROD or self.opts.prod_confirmed:
            return
        if not self.prompter.confirm_typed(
            f"Deploy to {self.opts.namespace} (context {self.result.context})? Type 'prod' to continue",
            "prod",
            hint="pass --yes-i-mean-prod to deploy to prod without a terminal",
        ):
            raise UsageError("Deploy to prod cancelled; nothing was changed.")

    def _apply(self, step: str, description: str, resources: list[Resource]) -> None:
        if not resources:
            self._done(step, StepStatus.SKIPPED, "nothing to apply")
            return
        self.reporter.started(step, description)
        try:
            self.kubectl.run(*self._apply_args(), "-f", "-", stdin=to_yaml(resources))
        except KubectlError as exc:
            hint = exc.hint
            if exc.forbidden and not self.skip_bootstrap:
                hint = (
                    "Your role may not change one of these objects. As leadgen:deployers, pass "
                    f"--skip-bootstrap; an admin applies the cluster-scoped objects and RBAC ({BOOTSTRAP_DOCS})."
                )
            self._fail(step, _first_failing(exc.stderr, resources), exc.message, hint=hint)
        self._done(step, StepStatus.OK, f"{len(resources)} resources")

    def _apply_args(self) -> list[str]:
        if self.opts.dry_run is DryRun.CLIENT:
            # kubectl refuses --dry-run=client with --server-side, and --force-conflicts without
            # it: a client dry run is a client-side apply, which sends no change.
            return ["apply", "--dry-run=client"]
        args = ["apply", "--server-side", f"--field-manager={contract.FIELD_MANAGER}"]
        if self.opts.force_conflicts:
            args.append("--force-conflicts")
        if self.opts.dry_run is DryRun.SERVER:
            args.append("--dry-run=server")
        return args

    def _wait_for_stores(self, plan: Plan) -> None:
        for res in plan.prerequisites:
            if res.kind == "StatefulSet":
                self._rollout("statefulset", res.name)
            elif res.kind == "Cluster" and res.api_version.startswith("postgresql.cnpg.io"):
                self._wait_cnpg(res.name)

    def _rollout(self, kind: str, name: str, *, held_back: Sequence[tuple[Wave, list[Resource]]] = ()) -> None:
        """Wait for one rollout; when it fails, ``held_back`` are the waves it keeps from applying."""
        step = f"rollout {kind}/{name}"
        self.reporter.started(step, f"wait for {kind}/{name}")
        timeout = f"--timeout={self.opts.rollout_timeout}s"
        done = self.kubectl.run("rollout", "status", f"{kind}/{name}", timeout, check=False)
        if not done.ok:
            message = done.stderr.strip() or done.stdout.strip() or "rollout failed"
            failure = diagnose(self.kubectl, f"{kind}/{name}", contract.selector_for(name), message)
            if held_back:
                failure = dataclasses.replace(failure, hint=self._held_back_hint(f"{kind}/{name}", held_back))
            self._fail_with(step, failure)
        self._done(step, StepStatus.OK, "rolled out")

    def _held_back_hint(self, failed: str, held_back: Sequence[tuple[Wave, list[Resource]]]) -> str:
        waves = " and ".join(f"wave {wave.number} ({wave}: {_by_kind(members)})" for wave, members in held_back)
        return (
            f"Stopped before {waves}, which {'keeps' if len(held_back) == 1 else 'keep'} running the "
            f"previous release. Fix {failed} (see above) and run `leadgen k8s deploy "
            f"{self.opts.env.value}` again: it applies a wave only once the waves before it have rolled out."
        )

    def _wait_cnpg(self, name: str) -> None:
        step = f"wait cluster/{name}"
        self.reporter.started(step, f"wait for CloudNativePG cluster {name}")
        done = self.kubectl.run(
            "wait",
            "--for=condition=Ready",
            f"{CNPG_CLUSTER}/{name}",
            f"--timeout={self.opts.rollout_timeout}s",
            check=False,
        )
        if not done.ok:
            failure = diagnose(self.kubectl, f"cluster/{name}", f"cnpg.io/cluster={name}", done.stderr.strip())
            self._fail_with(step, failure)
        self._done(step, StepStatus.OK, "ready")

    def _migrate(self, job: Resource) -> None:
        name = job.name
        timeout = migration_timeout(job, self.opts.migration_timeout)
        self.reporter.started("migrate", f"run Job/{name} (db upgrade), waiting up to {timeout}s")
        try:
            self._delete_finished_job(name, timeout)
            self.kubectl.run(
                "apply",
                "--server-side",
                f"--field-manager={contract.FIELD_MANAGER}",
                "-f",
                "-",
                stdin=to_yaml([job]),
            )
        except KubectlError as exc:
            self._fail("migrate", f"job/{name}", exc.message, hint=exc.hint)
        failure = self._wait_for_job(name, timeout, active_deadline(job))
        if failure is not None:
            self._fail_with("migrate", failure)
        self._done("migrate", StepStatus.OK, "migrations applied")

    def _delete_finished_job(self, name: str, timeout: int) -> None:
        """Delete the previous Job, but only once it finished: deleting an active one kills its
        pod, which can stop a migration midway (CREATE INDEX CONCURRENTLY then leaves an INVALID
        index behind)."""
        previous = self.kubectl.get_optional("job", name)
        if previous is None:
            return
        state, detail = workloads.job_state(previous)
        if state == "running":
            self._refuse_active_job(name, previous, detail)
        self.kubectl.run(
            "delete", "job", name, "--ignore-not-found", "--cascade=foreground", "--wait=true", f"--timeout={timeout}s"
        )

    def _refuse_active_job(self, name: str, job: dict[str, Any], detail: str) -> NoReturn:
        release = template_release(job)
        started = (job.get("status") or {}).get("startTime")
        seen = [f"release {release}" if release else "", f"started {started}" if started else "", detail]
        message = (
            f"the previous Job/{name} is still active ({', '.join(filter(None, seen))}): the migration "
            "of an earlier or concurrent deploy may be running, and deleting the Job could stop it midway"
        )
        failure = diagnose(self.kubectl, f"job/{name}", f"{contract.JOB_NAME_LABEL}={name}", message)
        ns = self.opts.namespace
        hint = (
            f"The Job was left alone. Follow it with `kubectl -n {ns} logs -f job/{name}`, and deploy again "
            f"once `kubectl -n {ns} get job {name}` shows it Complete or Failed. If its pod cannot start (a "
            f"reason above such as ImagePullBackOff), no migration runs in it: delete it "
            f"(`kubectl -n {ns} delete job {name}`) and deploy again."
        )
        self._fail_with("migrate", dataclasses.replace(failure, hint=hint))

    def _wait_for_job(self, name: str, timeout: int, deadline_seconds: int | None) -> Failure | None:
        """Poll the Job until it completes. Each poll also reads its pods, so a pod that cannot
        start (``BROKEN_WAITING``) fails at once instead of after the whole timeout."""
        selector = f"{contract.JOB_NAME_LABEL}={name}"
        deadline = self.clock() + timeout
        while True:
            current = self.kubectl.get_optional("job", name)
            if current is None:  # removed by ttlSecondsAfterFinished before we read its result
                message = "the Job was deleted before its result could be read; raise its ttlSecondsAfterFinished"
                break
            state, message = workloads.job_state(current)
            if state == "complete":
                return None
            if state == "failed":
                break
            stuck = workloads.stuck_pod(self.kubectl.items("pods", selector=selector))
            if stuck is not None:
                failure = diagnose(self.kubectl, f"job/{name}", selector, f"its pod cannot start: {stuck.reason}")
                ns = self.opts.namespace
                hint = (
                    f"Job/{name} stays active until its activeDeadlineSeconds ({deadline_seconds}s), and deploy "
                    f"does not replace an active migration Job; while its pod waits in {stuck.reason}, no "
                    f"migration runs in it. Fix the cause (above), delete the Job (`kubectl -n {ns} delete job "
                    f"{name}`) and deploy again."
                )
                return dataclasses.replace(failure, hint=hint)
            if self.clock() >= deadline:
                message = f"not finished after {timeout}s ({message})"
                break
            self.sleep(self.opts.poll_interval)
        return diagnose(self.kubectl, f"job/{name}", selector, message)

    def _health(self, plan: Plan) -> None:
        """The health check. Only failures about what this deploy rolled out fail it; the rest
        (a node NotReady, an old failed backup Job) the deploy did not touch, so they warn."""
        self.reporter.started("health-check", "run the health check")
        report = run_health(self.kubectl, self.opts.env, deep=self.opts.deep_health)
        self.result.health = report
        ours = {(r.kind, r.name) for r in plan.all_but_migration if r.kind in ROLLED_OUT_KINDS}
        if plan.migration is not None:
            ours.add((plan.migration.kind, plan.migration.name))
        failed = [c for c in report.checks if c.status is Status.FAIL]
        mine = [c for c in failed if health.judges(c, ours)]
        if mine:
            listed = ", ".join(f"{c.category} {c.name}" for c in mine)
            self._fail(
                "health-check", "health-check", f"{len(mine)} check(s) of what this deploy rolled out failed: {listed}"
            )
        counts = report.counts
        detail = f"{counts['pass']} passed, {counts['warn']} warning(s)"
        if failed:
            detail += f"; failed, outside this deploy: {', '.join(f'{c.category} {c.name}' for c in failed)}"
        status = StepStatus.WARNING if counts["warn"] or failed else StepStatus.OK
        self._done("health-check", status, detail)

    # --- bookkeeping -----------------------------------------------------------------------

    def _done(self, step: str, status: StepStatus, detail: str) -> None:
        result = StepResult(step, status, detail)
        self.result.steps.append(result)
        self.reporter.finished(result)

    def _fail(self, step: str, resource: str, message: str, *, hint: str | None = None) -> NoReturn:
        self._fail_with(step, Failure(resource, message, hint=hint))

    def _fail_with(self, step: str, failure: Failure) -> NoReturn:
        self.result.failure = failure
        self._done(step, StepStatus.FAILED, failure.message)
        raise StepFailedError(step)


def _by_kind(resources: Sequence[Resource]) -> str:
    """``Deployment api, worker; HorizontalPodAutoscaler api``: shorter than a list of refs."""
    names: dict[str, list[str]] = {}
    for res in resources:
        names.setdefault(res.kind, []).append(res.name)
    return "; ".join(f"{kind} {', '.join(found)}" for kind, found in names.items())


def _first_failing(stderr: str, resources: list[Resource]) -> str:
    """The resource kubectl names in its error, else the whole batch."""
    for res in resources:
        if f'"{res.name}"' in stderr or f"/{res.name}" in stderr:
            return res.ref
    return "apply"
