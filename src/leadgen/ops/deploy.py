"""``leadgen k8s deploy ENV``: render, validate, diff, migrate, apply, wait, check.

Order, and why:

1. render ``k8s/overlays/ENV`` with ``kubectl kustomize`` and validate it (no cluster needed),
   then stamp the release on the app pod templates (``rules.release``);
2. check the kubeconfig context (the one the overlay's settings name for the environment, if
   they name one: ``namespace.ensure_cluster``) and the namespace. A role that may not read the
   Namespace (the namespaced ``leadgen-deployer``) is not the one to manage it: the bootstrap
   objects (the cluster-scoped ones and RBAC, which an admin applies once) are then left out, as
   with ``--skip-bootstrap``;
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
   deploy's) deploy refuses, since deleting it could stop a migration midway; one of the release
   being deployed (an earlier attempt, cut short) is waited for instead. The wait lasts the
   Job's own ``activeDeadlineSeconds`` (and a little more) unless ``--migration-timeout`` says
   otherwise, and stops at once when the Job's pod cannot start. The Job is left out of every
   other apply, so a finished Job removed by its TTL is never re-created by accident;
7. apply the application workloads (Deployments, HPAs, CronJobs) in waves (``rules.waves``):
   first the backends the frontend calls, then the frontend, each wave's Deployments rolled out
   before the next wave is applied. An api of the previous release refuses what the new
   frontend sends, and a failed rollout leaves the later waves on the previous release. Then
   report (as a warning, with the command to delete them; never deleted) the platform's objects
   an earlier render applied that this one no longer holds (``rules.orphans``);
8. wait (up to ``--timeout``) until the Gateway API controller has reported on the spec of each
   Gateway and HTTPRoute this deploy applied, then run the health check, expecting by name what
   the render holds. Its failures about anything this deploy applied (every kind and name in the
   render, the migration Job included) fail the deploy; any other (a node NotReady, a backup
   Job, a volume a StatefulSet claimed) is reported as a warning.

The reads that poll (the migration Job, the edge's status) retry an API server that could not
answer (``KubectlError.transient``) a few times. Any kubectl error no step handles is recorded as
the failure of the step it interrupted, so the steps so far still print (and reach ``--json``).

Every apply is server-side with field manager ``leadgen``. A dry run shows the waves and stops
after the diff with an apply ``--dry-run``: server-side for ``server``; for ``client`` a plain
client-side apply, since kubectl refuses ``--dry-run=client`` together with ``--server-side``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.diagnose import diagnose
from leadgen.ops.errors import KubectlError, UsageError
from leadgen.ops.healthcheck import GATEWAYS, HTTPROUTES, Expected, HealthReport, run_health
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.namespace import ensure_cluster, expected_context
from leadgen.ops.report import Failure, Prompter, Reporter, StepResult, Steps, StepStatus
from leadgen.ops.rules import health, orphans, workloads
from leadgen.ops.rules.health import Status
from leadgen.ops.rules.manifests import CLUSTER_SCOPED, Finding, Resource, active_deadline, validate_rendered
from leadgen.ops.rules.plan import Plan, by_kind, first_failing, migration_timeout, to_yaml
from leadgen.ops.rules.release import app_image_tag, release_name, stamp, template_release
from leadgen.ops.rules.waves import Wave

# What an admin applies once per environment (docs/KUBERNETES_DEPLOYMENT.md): cluster-scoped
# objects, and the RBAC that grants the deployer its rights (it cannot grant them to itself).
BOOTSTRAP_KINDS = CLUSTER_SCOPED | {"Role", "RoleBinding"}
CNPG_CLUSTER = "clusters.postgresql.cnpg.io"
BOOTSTRAP_DOCS = "docs/KUBERNETES_DEPLOYMENT.md#who-applies-what"
# How many times in a row a polling read may meet an API server that cannot answer before the
# deploy gives up: enough for a control-plane restart or a load balancer's blip.
READ_ATTEMPTS = 5
# The edge objects whose controller deploy waits for, and the list each is read from.
EDGE_LISTS = {"Gateway": GATEWAYS, "HTTPRoute": HTTPROUTES}
EDGE_GROUP = "gateway.networking.k8s.io/"

T = TypeVar("T")


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
    # The platform's objects an earlier render applied that this one no longer holds.
    orphans: list[str] = field(default_factory=list)
    health: HealthReport | None = None


class StepFailedError(Exception):
    """Stops the deploy; the Failure is already recorded."""


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
        self.step: str | None = None  # the step running now, for an error no step handles
        self.result = DeployResult(
            environment=options.env.value,
            namespace=options.namespace,
            dry_run=options.dry_run.value if options.dry_run else None,
        )

    def run(self) -> DeployResult:
        try:
            self._run()
        except StepFailedError:
            pass
        except KubectlError as exc:
            step = self.step or "deploy"
            self._record(step, Failure(step, exc.message, hint=self._interrupted_hint(step, exc)))
        return self.result

    def _run(self) -> None:
        resources = self._render_and_validate()
        self.result.context = self.kubectl.ensure_context()
        ensure_cluster(self.result.context, self.opts.env, expected_context(resources))
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
            if namespace is not NamespaceState.MISSING:
                self._orphans(plan)
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
        self._orphans(plan)
        if self.opts.health_check:
            self._health(plan)

    # --- steps -----------------------------------------------------------------------------

    def _render_and_validate(self) -> tuple[Resource, ...]:
        self._start("render", f"render {self.opts.overlay}")
        try:
            text = self.kubectl.kustomize(self.opts.overlay)
        except KubectlError as exc:
            self._fail("render", f"kustomize {self.opts.overlay}", exc.message, hint=exc.hint)
        self._done("render", StepStatus.OK, f"{self.opts.overlay}")
        self._start("validate", "validate the rendered manifests")
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
            self.reporter.info(f"wave {wave.number} ({wave}): {by_kind(members)}")

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
        self._start("diff", "diff against the cluster")
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
        self._start(step, description)
        try:
            self.kubectl.run(*self._apply_args(), "-f", "-", stdin=to_yaml(resources))
        except KubectlError as exc:
            hint = exc.hint
            if exc.forbidden and not self.skip_bootstrap:
                hint = (
                    "Your role may not change one of these objects. As leadgen:deployers, pass "
                    f"--skip-bootstrap; an admin applies the cluster-scoped objects and RBAC ({BOOTSTRAP_DOCS})."
                )
            self._fail(step, first_failing(exc.stderr, resources), exc.message, hint=hint)
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
        self._start(step, f"wait for {kind}/{name}")
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
        waves = " and ".join(f"wave {wave.number} ({wave}: {by_kind(members)})" for wave, members in held_back)
        return (
            f"Stopped before {waves}, which {'keeps' if len(held_back) == 1 else 'keep'} running the "
            f"previous release. Fix {failed} (see above) and run `leadgen k8s deploy "
            f"{self.opts.env.value}` again: it applies a wave only once the waves before it have rolled out."
        )

    def _wait_cnpg(self, name: str) -> None:
        step = f"wait cluster/{name}"
        self._start(step, f"wait for CloudNativePG cluster {name}")
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
        self._start("migrate", f"run Job/{name} (db upgrade), waiting up to {timeout}s")
        try:
            if not self._replace_previous_job(name, timeout):
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

    def _replace_previous_job(self, name: str, timeout: int) -> bool:
        """Delete the previous Job, but only once it finished: deleting an active one kills its
        pod, which can stop a migration midway (CREATE INDEX CONCURRENTLY then leaves an INVALID
        index behind). An active one of this very release (an earlier attempt of this deploy, cut
        short) runs this migration already: it is kept and waited for. Whether it was kept."""
        previous = self.kubectl.get_optional("job", name)
        if previous is None:
            return False
        state, detail = workloads.job_state(previous)
        if state == "running" and template_release(previous) == self.result.release:
            self.reporter.info(f"Job/{name} of this release ({self.result.release}) is still running: waiting for it")
            return True
        if state == "running":
            self._refuse_active_job(name, previous, detail)
        self.kubectl.run(
            "delete", "job", name, "--ignore-not-found", "--cascade=foreground", "--wait=true", f"--timeout={timeout}s"
        )
        return False

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
            current = self._read(lambda: self.kubectl.get_optional("job", name))
            if current is None:  # removed by ttlSecondsAfterFinished before we read its result
                message = "the Job was deleted before its result could be read; raise its ttlSecondsAfterFinished"
                break
            state, message = workloads.job_state(current)
            if state == "complete":
                return None
            if state == "failed":
                break
            stuck = workloads.stuck_pod(self._read(lambda: self.kubectl.items("pods", selector=selector)))
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

    def _orphans(self, plan: Plan) -> None:
        """Report what an earlier render applied and this one lacks (``rules.orphans``); a warning
        with the command that deletes it, since deploy deletes nothing."""
        resources = [*plan.all_but_migration, *([plan.migration] if plan.migration else [])]
        types = ",".join(orphans.resource_types(resources))
        if not types:
            return
        self._start("orphans", "look for objects the overlay no longer renders")
        try:
            listed = self._read(lambda: self.kubectl.json("get", "--selector", contract.PART_OF_SELECTOR, types))
        except KubectlError as exc:
            if not (exc.forbidden or exc.unknown_resource_type):
                raise
            self._done("orphans", StepStatus.SKIPPED, f"cannot list them: {exc.message}")
            return
        found = orphans.left_behind(listed.get("items") or [], resources)
        self.result.orphans = found
        if not found:
            self._done("orphans", StepStatus.OK, "none")
            return
        delete = f"kubectl -n {self.opts.namespace} delete {' '.join(found)}"
        detail = (
            f"{len(found)} object(s) labelled {contract.PART_OF_SELECTOR} are no longer in the overlay: "
            f"{', '.join(found)}. Deploy deletes nothing; once they are surely unused: `{delete}`"
        )
        self._done("orphans", StepStatus.WARNING, detail)

    def _await_edge(self, plan: Plan) -> None:
        """Wait until the Gateway API controller has reported on the current spec of each Gateway
        and HTTPRoute this deploy applied, whatever its verdict: until then their status is of
        the previous spec, which the health check does not count. Still unreported after
        ``--timeout``, they fail the health check as not reconciled."""
        edge = [r for r in plan.prerequisites if r.kind in EDGE_LISTS and r.api_version.startswith(EDGE_GROUP)]
        if not edge:
            return
        timeout = self.opts.rollout_timeout
        self._start("reconcile", f"wait for the Gateway controller to report on {by_kind(edge)}")
        deadline = self.clock() + timeout
        try:
            waiting = self._unreconciled(edge)
            while waiting and self.clock() < deadline:
                self.sleep(self.opts.poll_interval)
                waiting = self._unreconciled(edge)
        except KubectlError as exc:
            if not (exc.forbidden or exc.unknown_resource_type):
                raise
            self._done("reconcile", StepStatus.SKIPPED, f"cannot read their status: {exc.message}")
            return
        if waiting:
            self._done("reconcile", StepStatus.WARNING, f"not reconciled after {timeout}s: {', '.join(waiting)}")
        else:
            self._done("reconcile", StepStatus.OK, f"reported on {by_kind(edge)}")

    def _unreconciled(self, edge: list[Resource]) -> list[str]:
        """The edge objects whose current spec no controller has reported on; one that is gone
        is not waited for (the health check reports it missing)."""
        found: dict[str, dict[str, Any]] = {}
        for kind in {r.kind for r in edge}:
            listed = self._read(functools.partial(self.kubectl.items, EDGE_LISTS[kind]))
            found.update({f"{kind}/{obj['metadata']['name']}": obj for obj in listed})
        return [r.ref for r in edge if r.ref in found and not health.reconciled(found[r.ref])]

    def _health(self, plan: Plan) -> None:
        """The health check. A failure about anything this deploy applied fails it; the rest (a
        node NotReady, a backup Job, a volume a StatefulSet claimed) it did not apply, so they warn."""
        self._await_edge(plan)
        self._start("health-check", "run the health check")
        expected = Expected.rendered(plan.all_but_migration)
        report = run_health(self.kubectl, self.opts.env, expected, deep=self.opts.deep_health)
        self.result.health = report
        ours = {(r.kind, r.name) for r in plan.all_but_migration}
        if plan.migration is not None:
            ours.add((plan.migration.kind, plan.migration.name))
        failed = [c for c in report.checks if c.status is Status.FAIL]
        mine = [c for c in failed if health.judges(c, ours)]
        if mine:
            listed = ", ".join(f"{c.category} {c.name}" for c in mine)
            self._fail(
                "health-check", "health-check", f"{len(mine)} check(s) of what this deploy applied failed: {listed}"
            )
        counts = report.counts
        detail = f"{counts['pass']} passed, {counts['warn']} warning(s)"
        if failed:
            detail += f"; failed, not applied by this deploy: {', '.join(f'{c.category} {c.name}' for c in failed)}"
        status = StepStatus.WARNING if counts["warn"] or failed else StepStatus.OK
        self._done("health-check", status, detail)

    def _read(self, read: Callable[[], T]) -> T:
        """``read()``, tried again (``READ_ATTEMPTS`` in all, ``--poll-interval`` apart) while the
        API server cannot answer; a poll must not end a deploy over one lost request."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return read()
            except KubectlError as exc:
                if not exc.transient or attempt == READ_ATTEMPTS:
                    raise
                self.reporter.info(f"warning: the API server did not answer ({exc.stderr.strip()}); trying again")
                self.sleep(self.opts.poll_interval)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _interrupted_hint(self, step: str, exc: KubectlError) -> str | None:
        if step != "migrate":
            return exc.hint
        ns, job = self.opts.namespace, contract.MIGRATION_JOB
        running = (
            f"Job/{job} may still be running (`kubectl -n {ns} logs -f job/{job}`): deploying this release again "
            "waits for it rather than starting another."
        )
        return " ".join(filter(None, (exc.hint, running)))

    # --- bookkeeping -----------------------------------------------------------------------

    def _start(self, step: str, description: str) -> None:
        self.step = step
        self.reporter.started(step, description)

    def _done(self, step: str, status: StepStatus, detail: str) -> None:
        self.step = None
        result = StepResult(step, status, detail)
        self.result.steps.append(result)
        self.reporter.finished(result)

    def _fail(self, step: str, resource: str, message: str, *, hint: str | None = None) -> NoReturn:
        self._fail_with(step, Failure(resource, message, hint=hint))

    def _fail_with(self, step: str, failure: Failure) -> NoReturn:
        self._record(step, failure)
        raise StepFailedError(step)

    def _record(self, step: str, failure: Failure) -> None:
        self.result.failure = failure
        self._done(step, StepStatus.FAILED, failure.message)
