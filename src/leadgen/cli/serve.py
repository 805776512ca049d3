"""Starting processes: ``serve`` (one pod's worth) and ``up`` (everything, embedded)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import AnyHttpUrl
from rich.markup import escape

from leadgen.cli.output import JsonOption, configuration, console, emit, fail, table
from leadgen.core.errors import Unauthorized
from leadgen.core.logging import configure_logging
from leadgen.core.settings import ConfigError, ServicesSettings, Settings, SmtpSettings, get_settings
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


def _run(
    settings: Settings,
    spec: str,
    ports: dict[str, int],
    prepare: Callable[[], None] = lambda: None,
    *,
    keep_mail: bool = False,
    closing: Callable[[dict[str, str]], dict[str, str]] = lambda listening: {},
) -> None:
    """Serve the targets ``spec`` names. Every port is bound first: one that is taken stops the
    process with exit code 2 and one line, before ``prepare`` (``up``'s migrations) changes anything.
    Where each server listens is printed once they all do, then what ``closing`` makes of that."""
    from leadgen.core.runtime import new_event_loop
    from leadgen.core.server import PortsUnavailable, ProcessHost

    if problems := settings.listening_problems():
        raise fail("\n".join(problems), 2)
    host = ProcessHost(settings, resolve(spec), ports, keep_mail=keep_mail)
    try:
        host.bind()
    except PortsUnavailable as exc:
        raise fail(str(exc), 2) from None
    prepare()
    configure_logging(settings.common.log_level, settings.common.log_format, spec)

    def announce() -> None:
        listening = host.listening()
        for name, where in {**listening, **closing(listening)}.items():
            console.print(f"[green]{name:>13}[/] {escape(where)}", highlight=False, soft_wrap=True)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(host.run(announce))
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
        int | None,
        typer.Option(min=1, max=65535, help="Listen on this port instead of the target's (single HTTP target only)."),
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
        bool,
        typer.Option(
            help="Load the demo book, and keep a working API key of the acme-leads source in the data "
            "directory's demo-api-key file."
        ),
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
        settings = _services_on_moved_ports(settings)
        with sole_up(settings.common.data_dir):

            def prepare() -> None:
                console.print(f"data directory: {settings.common.data_dir}", markup=False)
                upgrade(settings)
                if demo:
                    _load_demo(settings)
                else:
                    console.print(FIRST_ADMIN_HINT, markup=False, soft_wrap=True)

            _run(settings, ALL, {}, prepare, keep_mail=True, closing=partial(_up_banner, settings, demo=demo))


def _up_banner(settings: Settings, listening: dict[str, str], *, demo: bool) -> dict[str, str]:
    """The end of ``up``'s banner, its last lines, which the log does not push out of sight before
    it is read: where to sign in, and as whom; where the API is described; how to stop."""
    from leadgen.demo.book import ADMIN_EMAIL, DEMO_PASSWORD, EXAMPLE_AGENT_EMAIL

    dashboard = listening["frontend"]
    lines = {
        "dashboard": f"{dashboard}: sign in as {ADMIN_EMAIL} or an agent such as {EXAMPLE_AGENT_EMAIL}, "
        f"password {DEMO_PASSWORD}"
        if demo
        else f"{dashboard}: sign in as a user made with `leadgen users create`",
        "API docs": f"{listening['api']}/docs (and /docs on each service above but the frontend)",
    }
    if demo:
        lines["API key"] = f"of {DEMO_SOURCE} (X-API-Key) in {settings.common.data_dir / DEMO_KEY_FILE}"
    lines["stop"] = f"Ctrl-C; the data stays in {settings.common.data_dir} for the next start"
    return lines


def _services_on_moved_ports(settings: Settings) -> Settings:
    """With LEADGEN_HTTP_PORT_OFFSET, ``up``'s services reach each other, and its e-mails link the
    dashboard, on the moved ports: each LEADGEN_SERVICES_* URL left at its default (a target's port
    on this machine) moves too, and so does the SMTP port left at its default, where ``up`` keeps
    its mail: a second ``up`` beside the first would otherwise take the first's mail keeper for the
    user's own SMTP server and send it its mail. Set in the environment, as the data directory is,
    for what reads the settings anew (the task runtime)."""
    offset = settings.http.port_offset
    if not offset:
        return settings
    for name, spec in ServicesSettings.model_fields.items():
        default = spec.default
        if name in settings.services.model_fields_set or not isinstance(default, AnyHttpUrl) or not default.port:
            continue
        os.environ[f"{ServicesSettings.env_prefix}{name.upper()}"] = (
            f"{default.scheme}://{default.host}:{default.port + offset}"
        )
    if "port" not in settings.smtp.model_fields_set:
        os.environ[f"{SmtpSettings.env_prefix}PORT"] = str(settings.smtp.port + offset)
    get_settings.cache_clear()
    return Settings(_needs(ALL))


UP_LOCK_FILE = "up.lock"


@contextmanager
def sole_up(data_dir: Path) -> Iterator[None]:
    """Held while ``up`` runs on ``data_dir``, and taken before ``up`` does anything there: a
    second ``up`` would migrate the running one's SQLite database, load the demo book into it and
    then fail on Qdrant's folder lock. Exit 2 naming the holder's pid instead. The lock (flock)
    goes with the process however it ends, so a crashed ``up`` leaves none behind. A directory it
    cannot write in (another user's, as a ``sudo`` start leaves it) is exit 2 in one line too."""
    try:
        opened = (data_dir / UP_LOCK_FILE).open("a+")
    except OSError as exc:
        raise fail(
            f"cannot write in the data directory {data_dir} ({UP_LOCK_FILE}: {exc.strerror or exc}): "
            "make it yours and writable, or choose another with --data-dir or LEADGEN_DATA_DIR",
            2,
        ) from None
    with opened as lock:
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
DEMO_KEY_FILE = "demo-api-key"
FIRST_ADMIN_HINT = (
    "first start? create the dashboard's first admin: leadgen users create --email you@example.com "
    "(it asks for a password)"
)


def _load_demo(settings: Settings) -> None:
    """Load the demo book, and keep a demo API key in the data directory (development only): the
    one kept there while it works, so that each start does not leave another working key behind."""
    from leadgen.cli.admin import in_transaction
    from leadgen.demo.book import load

    in_transaction(settings, load)
    key_file = settings.common.data_dir / DEMO_KEY_FILE
    kept = key_file.read_text().strip() if key_file.exists() else ""
    if not kept or not in_transaction(settings, partial(_demo_key_works, presented=kept), graph=False):
        key_file.write_text(in_transaction(settings, _new_demo_key, graph=False) + "\n")
    # Who signs in, and where, is said last, beside the addresses, once every service listens.
    console.print("demo book loaded", highlight=False)


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
