"""Starting processes: ``serve`` (one pod's worth) and ``up`` (everything, embedded)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from leadgen.cli.output import JsonOption, configuration, console, emit, fail, table
from leadgen.core.logging import configure_logging
from leadgen.core.settings import ConfigError, Settings, get_settings
from leadgen.targets.registry import ALL, TARGETS, needs_of, resolve

app = typer.Typer(no_args_is_help=True)


def _needs(spec: str) -> frozenset[str]:
    """What the targets ``spec`` names need; exit 2 naming an unknown target."""
    try:
        return needs_of(resolve(spec))
    except ValueError as exc:
        raise fail(str(exc), 2) from None


def _run(settings: Settings, spec: str, ports: dict[str, int]) -> None:
    from leadgen.core.runtime import new_event_loop
    from leadgen.core.server import ProcessHost

    targets = resolve(spec)
    configure_logging(settings.common.log_level, settings.common.log_format, spec)
    host = ProcessHost(settings, targets, ports)
    for name, url in host.listening().items():
        console.print(f"[green]{name:>13}[/] {url}", highlight=False)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(host.run())
    if host.exit_code:
        raise typer.Exit(host.exit_code)


def serve(
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="Target(s) to run, comma-separated, or 'all'. Env: LEADGEN_TARGET.",
            envvar="LEADGEN_TARGET",
        ),
    ] = ALL,
    port: Annotated[
        int | None, typer.Option(help="Listen on this port instead of the target's (single HTTP target only).")
    ] = None,
) -> None:
    """Run one or more service targets (one per pod in Kubernetes)."""
    with configuration(_needs(target)) as settings:
        ports = {}
        if port is not None:
            http = [t for t in resolve(target) if t.http_port]
            if len(http) != 1:
                raise fail("--port needs exactly one HTTP target", 2)
            ports[http[0].name] = port
        _run(settings, target, ports)


def up(
    data_dir: Annotated[Path | None, typer.Option(help="Where embedded stores live. Env: LEADGEN_DATA_DIR.")] = None,
    demo: Annotated[
        bool, typer.Option(help="Load the demo book and print an API key for the acme-leads source.")
    ] = False,
) -> None:
    """Run the whole platform in this process with embedded stores (SQLite, in-process queue)."""
    from leadgen.core.migrate import upgrade

    os.environ.setdefault("LEADGEN_ENVIRONMENT", "development")
    if data_dir is not None:
        os.environ["LEADGEN_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    with configuration(_needs(ALL)) as settings:
        if not settings.is_development:
            raise fail("`leadgen up` is the development shape; use `leadgen serve --target` elsewhere", 2)
        console.print(f"data directory: {settings.common.data_dir}")
        upgrade(settings)
        if demo:
            _load_demo(settings)
        _run(settings, ALL, {})


def _load_demo(settings: Settings) -> None:
    """Load the demo book and keep a fresh demo API key in the data directory (development only)."""
    from leadgen.auth.service import create_api_key
    from leadgen.cli.admin import in_transaction
    from leadgen.demo.book import load

    summary = in_transaction(settings, load)
    _, key = in_transaction(settings, lambda s: create_api_key(s, "acme-leads", "vendor", "leadgen up --demo"))
    key_file = settings.common.data_dir / "demo-api-key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    console.print(
        f"demo book loaded: sign in as {summary['admin']} / {summary['password']}; "
        f"API key for acme-leads in {key_file}",
        highlight=False,
    )


def targets(as_json: bool = JsonOption) -> None:
    """List the service targets, their ports and what they need."""
    rows = [
        {"target": t.name, "port": t.http_port, "needs": sorted(t.needs), "description": t.description}
        for t in TARGETS.values()
    ]
    emit(
        rows,
        as_json,
        table(
            "targets",
            ["target", "port", "needs", "description"],
            [[t.name, t.http_port or "9090 only", ", ".join(sorted(t.needs)), t.description] for t in TARGETS.values()],
        ),
    )


def check_config(
    target: Annotated[str, typer.Option("--target", "-t", help="Target(s) whose settings to check.")] = ALL,
    as_json: bool = JsonOption,
) -> None:
    """Validate the settings a target needs, without starting it; exit 2 when something is wrong."""
    needs = _needs(target)
    try:
        Settings(needs)
        problems: list[str] = []
    except ConfigError as exc:
        problems = exc.problems
    emit(
        {"target": target, "ok": not problems, "problems": problems},
        as_json,
        "configuration OK" if not problems else "\n".join(f"- {escape(p)}" for p in problems),
    )
    if problems:
        raise typer.Exit(2)
