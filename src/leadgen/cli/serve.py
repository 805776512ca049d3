"""Starting processes: ``serve`` (one pod's worth) and ``up`` (everything, embedded)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadgen.cli.output import JsonOption, configuration, console, emit, fail, table
from leadgen.core.errors import Unauthorized
from leadgen.core.logging import configure_logging
from leadgen.core.settings import ConfigError, Settings, get_settings
from leadgen.sources.rules import SourceKind
from leadgen.targets.registry import ALL, TARGETS, needs_of, resolve

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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
        _private_data(settings.common.data_dir)
        with sole_up(settings.common.data_dir):
            console.print(f"data directory: {settings.common.data_dir}", markup=False)
            upgrade(settings)
            if demo:
                _load_demo(settings)
            _run(settings, ALL, {})


UP_LOCK_FILE = "up.lock"


@contextmanager
def sole_up(data_dir: Path) -> Iterator[None]:
    """Held while ``up`` runs on ``data_dir``, and taken before ``up`` does anything there: a
    second ``up`` would migrate the running one's SQLite database, load the demo book into it and
    then fail on Qdrant's folder lock. Exit 2 naming the holder's pid instead. The lock (flock)
    goes with the process however it ends, so a crashed ``up`` leaves none behind."""
    with (data_dir / UP_LOCK_FILE).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            # Empty only in the moment between the holder's lock and its writing its pid.
            holder = lock.read().strip() or "unknown"
            raise fail(f"another `leadgen up` is using {data_dir} (pid {holder})", 2) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


DEMO_SOURCE = "acme-leads"


def _load_demo(settings: Settings) -> None:
    """Load the demo book, and keep a demo API key in the data directory (development only): the
    one kept there while it works, so that each start does not leave another working key behind."""
    from leadgen.cli.admin import in_transaction
    from leadgen.demo.book import load

    summary = in_transaction(settings, load)
    key_file = settings.common.data_dir / "demo-api-key"
    kept = key_file.read_text().strip() if key_file.exists() else ""
    if not kept or not in_transaction(settings, partial(_demo_key_works, presented=kept), graph=False):
        key_file.write_text(in_transaction(settings, _new_demo_key, graph=False) + "\n")
    console.print(
        f"demo book loaded: sign in as {summary['admin']} / {summary['password']}; "
        f"API key for {DEMO_SOURCE} in {key_file}",
        highlight=False,
    )


async def _demo_key_works(session: AsyncSession, *, presented: str) -> bool:
    from leadgen.auth.service import source_for_key

    try:
        return (await source_for_key(session, presented, fresh=True)).name == DEMO_SOURCE
    except Unauthorized:
        return False


async def _new_demo_key(session: AsyncSession) -> str:
    from leadgen.auth.service import create_api_key

    _, key = await create_api_key(session, DEMO_SOURCE, SourceKind.VENDOR, "leadgen up --demo")
    return key


def _private_data(data_dir: Path) -> None:
    """What ``up`` stores holds people's personal data: its directory and every file this process
    creates are its user's alone (the umask), whatever the machine's default."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)


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
        "configuration OK" if not problems else "\n".join(f"- {p}" for p in problems),
    )
    if problems:
        raise typer.Exit(2)
