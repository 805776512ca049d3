"""The ``leadgen k8s`` Typer app (mounted into the main CLI; also ``python -m leadgen.ops``).

Each command accepts the cluster options (``--context``, ``--namespace``, ``--kubectl``,
``--verbose``) both before and after its name, so the ``scripts/k8s/*.sh`` wrappers, which put
everything after the command, take them too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from leadgen.ops import contract, debug, output
from leadgen.ops.contract import Environment, Service
from leadgen.ops.deploy import Deployer, DeployOptions, DryRun, Shipped
from leadgen.ops.errors import EXIT_FAILED, EXIT_OK, OpsError, UsageError
from leadgen.ops.healthcheck import Expected, run_health
from leadgen.ops.kubectl import Kubectl, locate
from leadgen.ops.namespace import ensure_cluster, ensure_environment, expected_context
from leadgen.ops.report import SilentReporter, to_json
from leadgen.ops.rollback import RollbackRequest, run_rollback
from leadgen.ops.rules.health import Thresholds
from leadgen.ops.rules.manifests import Resource, parse, validate_rendered
from leadgen.ops.scale import run_scale

EPILOG = (
    "Exit codes: 0 done (or all checks passed; warnings allowed), 1 something failed, "
    "2 could not start (arguments, kubectl or context missing, prod not confirmed)."
)

app = typer.Typer(
    name="k8s",
    help="Operate the platform on Kubernetes: deploy, rollback, scale, debug, health-check. "
    "Drives kubectl with your kubeconfig; every command has --json for scripts.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
)

GLOBALS_KEY = "leadgen.ops.globals"
CLUSTER = "Cluster"

EnvArg = Annotated[
    Environment,
    typer.Argument(
        help="Environment: dev, staging or prod (overlay k8s/overlays/ENV, namespace leadgen-ENV).",
        case_sensitive=False,
        show_default=False,
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option(
        "--context",
        help="kubeconfig context to use. Default: kubectl's current context. deploy and health-check "
        "refuse any other than the one the overlay's leadgen-cluster-settings names (kubeContext; "
        "staging: leadgen-staging, prod: leadgen-prod; dev: any); rollback, scale and debug any other "
        "than the one the namespace's own leadgen-cluster-settings names (where it cannot be read: "
        "the one above).",
        envvar="LEADGEN_K8S_CONTEXT",
        rich_help_panel=CLUSTER,
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Namespace to use instead of leadgen-ENV (deploy then also expects the overlay to render into it). "
        "It must belong to ENV: a namespace named leadgen-OTHER(-...), or whose leadgen-cluster-settings "
        "ConfigMap names another environment, is refused, so that environment's rules (prod's "
        "confirmation, replica floors) always apply.",
        rich_help_panel=CLUSTER,
    ),
]
KubectlOpt = Annotated[
    str | None,
    typer.Option(
        "--kubectl",
        help="kubectl to run: a path or a name on PATH. Default: kubectl on PATH.",
        envvar="LEADGEN_KUBECTL",
        rich_help_panel=CLUSTER,
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Print each kubectl command (to stderr) before it runs.",
        rich_help_panel=CLUSTER,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout instead of tables and progress."),
]
ProdOpt = Annotated[
    bool,
    typer.Option(
        "--yes-i-mean-prod",
        help="Confirm an action on prod without being asked. Without it prod asks you to type "
        "'prod', and refuses when there is no terminal.",
    ),
]
TimeoutOpt = Annotated[
    int,
    typer.Option("--timeout", min=1, help="Seconds to wait for each rollout before failing."),
]


@dataclass
class Globals:
    context: str | None = None
    namespace: str | None = None
    kubectl: str | None = None
    verbose: bool = False


def stdin_is_interactive() -> bool:
    """Whether a person can answer a prompt (tests replace this)."""
    return sys.stdin.isatty()


def now() -> datetime:
    return datetime.now(UTC)


def shipped() -> Shipped:
    """This CLI's leadgen version and the newest migration it ships (tests replace this)."""
    from leadgen.core.migrate import current_head

    return Shipped(version("leadgen"), current_head())


@app.callback()
def main(
    ctx: typer.Context,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    kubectl: KubectlOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Operate the platform on Kubernetes."""
    ctx.meta[GLOBALS_KEY] = Globals(context, namespace, kubectl, verbose)


@dataclass
class Session:
    kubectl: Kubectl
    env: Environment
    out: Console
    err: Console
    json: bool
    reporter: output.RichReporter | SilentReporter = field(init=False)

    def __post_init__(self) -> None:
        self.reporter = SilentReporter() if self.json else output.RichReporter(self.out)

    @property
    def prompter(self) -> output.TerminalPrompter:
        return output.TerminalPrompter(self.err, stdin_is_interactive())

    def close(self) -> None:
        """Stop any progress display, also when a step raised."""
        if isinstance(self.reporter, output.RichReporter):
            self.reporter.close()


def _session(
    ctx: typer.Context,
    env: Environment,
    context: str | None,
    namespace: str | None,
    kubectl_path: str | None,
    verbose: bool,
    json_out: bool,
    cleanup: ExitStack,
) -> Session:
    g: Globals = ctx.meta.get(GLOBALS_KEY) or Globals()
    out, err = output.consoles()
    verbose = verbose or g.verbose

    def announce(argv: Sequence[str]) -> None:
        if verbose:
            err.print(Text("$ " + " ".join(argv), style="dim"))

    kubectl = Kubectl(
        locate(kubectl_path or g.kubectl),
        context=context or g.context,
        namespace=namespace or g.namespace or env.namespace,
        on_run=announce,
    )
    ensure_environment(kubectl, env)
    session = Session(kubectl, env, out, err, json_out)
    cleanup.callback(session.close)
    return session


@contextmanager
def _reported(json_out: bool) -> Iterator[ExitStack]:
    """Turn an OpsError into a message (or JSON) and its exit code; clean up the session first."""
    try:
        with ExitStack() as cleanup:
            yield cleanup
    except OpsError as exc:
        if json_out:
            output.emit_json({"ok": False, "error": exc.message, "hint": exc.hint})
        else:
            output.print_error(output.consoles()[1], exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from exc


def _overlay(overlays_dir: Path | None, env: Environment) -> Path:
    """``k8s/overlays/ENV``: from --overlays-dir, else the nearest ``k8s/overlays`` upwards."""
    if overlays_dir is not None:
        base = overlays_dir
    else:
        starts = [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[3]]
        base = next(
            (p / "k8s" / "overlays" for p in starts if (p / "k8s" / "overlays").is_dir()),
            Path("k8s/overlays"),
        )
    overlay = base / env.value
    if not overlay.is_dir():
        raise UsageError(
            f"overlay {overlay} not found.",
            hint="Run from the repository, or pass --overlays-dir PATH (the folder holding dev/, staging/, prod/).",
        )
    return overlay


def _rendered(kube: Kubectl, overlay: Path) -> list[Resource]:
    """The overlay's objects, as ``kubectl kustomize`` renders them."""
    resources, problems = parse(kube.kustomize(overlay))
    if problems:
        raise UsageError(
            f"The render of {overlay} cannot be read: " + "; ".join(f"{f.resource} {f.message}" for f in problems),
            hint=f"`leadgen k8s validate {overlay.name}` shows every problem of the overlay.",
        )
    return resources


OverlaysOpt = Annotated[
    Path | None,
    typer.Option(
        "--overlays-dir",
        help="Folder with the overlays (dev/, staging/, prod/). Default: the nearest k8s/overlays "
        "above the current directory.",
        envvar="LEADGEN_K8S_OVERLAYS",
        file_okay=False,
    ),
]


@app.command()
def deploy(
    ctx: typer.Context,
    env: EnvArg,
    dry_run: Annotated[
        DryRun | None,
        typer.Option(
            "--dry-run",
            help="client: validate locally and with kubectl's client-side dry run (a plain "
            "client-side apply; kubectl allows no server-side apply with it); server: let the API "
            "server (and its admission webhooks) check every object. Nothing changes.",
            case_sensitive=False,
        ),
    ] = None,
    diff: Annotated[
        bool,
        typer.Option("--diff/--no-diff", help="Show `kubectl diff` against the cluster first."),
    ] = True,
    timeout: TimeoutOpt = 300,
    migration_timeout: Annotated[
        int | None,
        typer.Option(
            "--migration-timeout",
            min=1,
            help="Seconds to wait for the db-migrate Job. Default: the Job's activeDeadlineSeconds in "
            "the overlay, plus 30, so the Job's own verdict is what deploy reports.",
            show_default=False,
        ),
    ] = None,
    poll_interval: Annotated[
        float,
        typer.Option("--poll-interval", min=0, help="Seconds between checks of the db-migrate Job."),
    ] = 2.0,
    health: Annotated[
        bool,
        typer.Option("--health-check/--no-health-check", help="Run the health check after the rollouts."),
    ] = True,
    deep: Annotated[bool, typer.Option("--deep", help="Make the final health check a deep one.")] = False,
    force_conflicts: Annotated[
        bool,
        typer.Option(
            "--force-conflicts",
            help="Let the overlay win fields another manager changed since the last deploy "
            "(rollback, scale --hpa, kubectl edit). Without it such a conflict stops the deploy.",
        ),
    ] = False,
    skip_bootstrap: Annotated[
        bool,
        typer.Option(
            "--skip-bootstrap",
            help="Leave out what an admin applies once: the cluster-scoped objects (Namespace, "
            "StorageClasses, GatewayClass, ClusterSecretStore, admission policies) and the RBAC "
            "Roles/RoleBindings. For the leadgen-deployer role; also chosen when your role may not "
            "read the Namespace.",
        ),
    ] = False,
    yes_i_mean_prod: ProdOpt = False,
    overlays_dir: OverlaysOpt = None,
    json_out: JsonOpt = False,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    kubectl: KubectlOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Render and validate the overlay, diff, migrate the database, apply, wait, health-check.

    Order: render -> validate -> diff -> (prod: confirm) -> apply prerequisites -> wait for the
    stores -> db-migrate Job (the finished previous one deleted first; an active one stops the
    deploy) -> apply the backends the frontend calls and wait for their rollouts -> apply the
    frontend and wait for its rollout -> health check (only failures of what the deploy rolled
    out fail it). A failure prints the failing resource, its pod's reason and its last events,
    and exits 1.
    """
    with _reported(json_out) as cleanup:
        if env is Environment.PROD and not (yes_i_mean_prod or dry_run or stdin_is_interactive()):
            raise UsageError(
                "Refusing to deploy to prod without confirmation.",
                hint="Pass --yes-i-mean-prod (CI), or run it in a terminal and type 'prod'.",
            )
        s = _session(ctx, env, context, namespace, kubectl, verbose, json_out, cleanup)
        opts = DeployOptions(
            env=env,
            overlay=_overlay(overlays_dir, env),
            namespace=s.kubectl.namespace or env.namespace,
            dry_run=dry_run,
            diff=diff,
            rollout_timeout=timeout,
            migration_timeout=migration_timeout,
            poll_interval=poll_interval,
            health_check=health,
            deep_health=deep,
            force_conflicts=force_conflicts,
            prod_confirmed=yes_i_mean_prod,
            skip_bootstrap=skip_bootstrap,
            shipped=shipped(),
        )
        result = Deployer(s.kubectl, opts, s.reporter, s.prompter).run()
        if json_out:
            output.emit_json(result, ok=result.ok)
        else:
            output.print_deploy(s.out, result)
        raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


@app.command()
def validate(
    env: EnvArg,
    overlays_dir: OverlaysOpt = None,
    namespace: NamespaceOpt = None,
    kubectl: KubectlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Render the overlay and run deploy's structural checks; needs no cluster."""
    with _reported(json_out):
        kube = Kubectl(locate(kubectl))
        report = validate_rendered(kube.kustomize(_overlay(overlays_dir, env)), env, namespace)
        if json_out:
            output.emit_json(
                {
                    "ok": report.ok,
                    "resources": len(report.resources),
                    "findings": [to_json(f) for f in report.findings],
                }
            )
        else:
            out = output.consoles()[0]
            if report.findings:
                out.print(output.findings_table(report.findings))
            verdict = "valid" if report.ok else f"{len(report.errors)} error(s)"
            out.print(f"{env.value}: {len(report.resources)} resources, {verdict}")
        raise typer.Exit(EXIT_OK if report.ok else EXIT_FAILED)


@app.command()
def rollback(
    ctx: typer.Context,
    env: EnvArg,
    service: Annotated[
        Service | None,
        typer.Argument(
            help="Deployment to roll back. Default: every application Deployment, to the "
            "previous release (each to its newest revision of that release).",
            show_default=False,
        ),
    ] = None,
    to_revision: Annotated[
        int | None,
        typer.Option(
            "--to-revision",
            min=1,
            help="Revision of SERVICE to go back to (see --list). Default: the newest older revision that "
            "runs another release or other images than the current one (a `kubectl rollout restart` makes "
            "a revision of the same release, which is passed over).",
        ),
    ] = None,
    to_release: Annotated[
        str | None,
        typer.Option(
            "--to-release",
            help="Release to go back to (the RELEASE column of --list), instead of the previous one.",
        ),
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="Only show the history (revisions, images, causes).")
    ] = False,
    timeout: TimeoutOpt = 300,
    yes_i_mean_prod: ProdOpt = False,
    json_out: JsonOpt = False,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    kubectl: KubectlOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """List rollout history; roll back one service to its previous release, or every service; verify.

    Migrations are not rolled back: the command says where the schema stands before it changes
    anything.
    """
    with _reported(json_out) as cleanup:
        s = _session(ctx, env, context, namespace, kubectl, verbose, json_out, cleanup)
        request = RollbackRequest(service.value if service else None, to_revision, to_release, list_only)
        result = run_rollback(
            s.kubectl, env, request, timeout=timeout,
            prod_confirmed=yes_i_mean_prod, reporter=s.reporter, prompter=s.prompter,
        )  # fmt: skip
        ok = result.ok
        if json_out:
            output.emit_json(result, ok=ok)
        else:
            output.print_rollback(s.out, result)
        raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command()
def scale(
    ctx: typer.Context,
    env: EnvArg,
    service: Annotated[Service, typer.Argument(help="Deployment to scale.", show_default=False)],
    replicas: Annotated[int, typer.Argument(min=0, help="Replica count wanted.", show_default=False)],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (prod still asks: --yes-i-mean-prod).")
    ] = False,
    use_hpa: Annotated[
        bool,
        typer.Option(
            "--hpa",
            help="Change the HPA bounds instead (minReplicas=REPLICAS, maxReplicas at least "
            "REPLICAS) so the count lasts; a manual scale is undone by the HPA. REPLICAS may not "
            "go below the environment's floor ("
            + ", ".join(f"{e.value} {n}" for e, n in contract.REPLICA_FLOORS.items())
            + "), nor maxReplicas above what PostgreSQL's max_connections holds at the worst case "
            "of a rollout (read from the cluster).",
        ),
    ] = False,
    yes_i_mean_prod: ProdOpt = False,
    json_out: JsonOpt = False,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    kubectl: KubectlOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Scale a Deployment, checked against its HPA bounds; shows the HPA status afterwards."""
    with _reported(json_out) as cleanup:
        s = _session(ctx, env, context, namespace, kubectl, verbose, json_out, cleanup)
        result = run_scale(
            s.kubectl, env, service.value, replicas, use_hpa=use_hpa, yes=yes,
            prod_confirmed=yes_i_mean_prod, reporter=s.reporter, prompter=s.prompter,
        )  # fmt: skip
        if json_out:
            output.emit_json(result, ok=result.ok)
        else:
            output.print_scale(s.out, result)


@app.command(name="debug")
def debug_command(
    ctx: typer.Context,
    env: EnvArg,
    action: Annotated[
        debug.Action | None,
        typer.Argument(
            help="pods: list; logs; describe; shell (ephemeral debug container if the image has "
            "no shell); port-forward; top: CPU/memory (needs metrics-server); events. "
            "Default: ask (on a terminal) or pods.",
            show_default=False,
        ),
    ] = None,
    pod: Annotated[str | None, typer.Option("--pod", help="Pod name. Default: pick one.")] = None,
    service: Annotated[
        Service | None,
        typer.Option("--service", "-s", help="Only pods of this service; logs: of every one of them."),
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Only pods matching this label selector; logs: of every one of them."),
    ] = None,
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="Container. Default: the pod's first.")
    ] = None,
    previous: Annotated[
        bool,
        typer.Option(
            "--previous",
            "-p",
            help="logs: of the previous (crashed) container run, of one pod (default: the broken one).",
        ),
    ] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="logs: keep streaming.")] = False,
    all_lines: Annotated[bool, typer.Option("--all", help="logs: every line, not only the recent ones.")] = False,
    tail: Annotated[
        int | None,
        typer.Option(
            "--tail",
            min=1,
            help=f"logs: how many recent lines (of each pod). Default: {debug.DEFAULT_TAIL}, or with --since "
            "every line of that window.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="logs: only newer than this (5m, 1h).")] = None,
    ports: Annotated[
        str | None,
        typer.Option(
            "--ports",
            help="port-forward: LOCAL:REMOTE. Default: the service's port "
            "(frontend 8080:80), or 9090 (metrics) for worker/scheduler pods.",
        ),
    ] = None,
    address: Annotated[str, typer.Option("--address", help="port-forward: local address to listen on.")] = "127.0.0.1",
    shell: Annotated[str, typer.Option("--shell", help="shell: program to run in the container.")] = "/bin/sh",
    debug_image: Annotated[
        str, typer.Option("--debug-image", help="shell: image of the ephemeral debug container.")
    ] = debug.DEFAULT_DEBUG_IMAGE,
    debug_profile: Annotated[
        str,
        typer.Option(
            "--debug-profile",
            help="shell: kubectl debug --profile; restricted passes the namespaces' restricted Pod Security admission.",
        ),
    ] = debug.DEFAULT_DEBUG_PROFILE,
    json_out: JsonOpt = False,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    kubectl: KubectlOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Look into running pods: list, logs, describe, shell, port-forward, top, events."""
    with _reported(json_out) as cleanup:
        s = _session(ctx, env, context, namespace, kubectl, verbose, json_out, cleanup)
        interactive = stdin_is_interactive() and not json_out
        chosen = action
        if chosen is None:
            if interactive:
                names = [a.value for a in debug.Action]
                chosen = debug.Action(names[s.prompter.choose("What do you want to see?", names)])
            else:
                chosen = debug.Action.PODS
        if json_out and (chosen in debug.INTERACTIVE or follow):
            raise UsageError(f"--json cannot be used with {chosen.value}{' --follow' if follow else ''}.")
        opts = debug.DebugOptions(
            chosen, pod=pod, service=service.value if service else None, selector=selector,
            container=container,
            logs=debug.LogOptions(previous, follow, all_lines, tail, since),
            ports=ports, address=address, shell=shell, debug_image=debug_image,
            debug_profile=debug_profile,
        )  # fmt: skip
        result = debug.run_debug(
            s.kubectl, env, opts, now=now(), choose=s.prompter.choose if interactive else None,
            capture=json_out,
        )  # fmt: skip
        if json_out:
            output.emit_json(result, ok=result.exit_code == 0)
        else:
            output.print_debug(s.out, result)
        raise typer.Exit(result.exit_code)


@app.command(name="health-check")
def health_check(
    ctx: typer.Context,
    env: EnvArg,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also: each app's readiness (rollout, pods' Ready conditions, ready endpoints) "
            "and its /readyz details asked inside one Ready pod (kubectl exec, needs pods/exec), "
            "pod restarts and pending pods with reasons, certificate expiry.",
        ),
    ] = False,
    cert_warn_days: Annotated[
        int,
        typer.Option(
            "--cert-warn-days",
            min=0,
            help="--deep: warn when a certificate expires within this many days.",
        ),
    ] = 21,
    cert_fail_days: Annotated[
        int,
        typer.Option(
            "--cert-fail-days",
            min=0,
            help="--deep: fail when a certificate expires within this many days.",
        ),
    ] = 7,
    pending_grace: Annotated[
        int,
        typer.Option(
            "--pending-grace",
            min=0,
            help="--deep: seconds a pod may be Pending before it fails the check.",
        ),
    ] = 300,
    overlays_dir: OverlaysOpt = None,
    json_out: JsonOpt = False,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    kubectl: KubectlOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Check Deployments, StatefulSets, Jobs, Service endpoints, PVCs, Gateways/HTTPRoutes, nodes.

    Expects by name every Deployment, StatefulSet, Service, Gateway and HTTPRoute the overlay
    renders (k8s/overlays/ENV). A Gateway or HTTPRoute whose status is about an older spec
    (observedGeneration) is not reconciled and fails. Prints pass/warn/fail per item. Exit code 0
    when nothing failed (warnings allowed), 1 when anything failed, including when it may not
    read the Deployments, StatefulSets or Services or when no check passed (it then vouches for
    nothing): usable as a CI gate.
    """
    with _reported(json_out) as cleanup:
        s = _session(ctx, env, context, namespace, kubectl, verbose, json_out, cleanup)
        resources = _rendered(s.kubectl, _overlay(overlays_dir, env))
        ensure_cluster(s.kubectl.ensure_context(), env, expected_context(resources))
        limits = Thresholds(cert_warn_days, cert_fail_days, timedelta(seconds=pending_grace))
        report = run_health(s.kubectl, env, Expected.rendered(resources), deep=deep, thresholds=limits, now=now)
        if json_out:
            output.emit_json(report, ok=report.exit_code == 0, counts=report.counts)
        else:
            output.print_health(s.out, report)
        raise typer.Exit(report.exit_code)
