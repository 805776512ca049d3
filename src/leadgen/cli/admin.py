"""Database, users, API keys, the do-not-contact list, the retention purge and the demo book."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents.graph_sync import sync_all
from leadgen.auth.roles import Role
from leadgen.auth.service import MAX_USERS_PAGE
from leadgen.cli.output import JsonOption, configuration, emit, fail, table
from leadgen.core.errors import DomainError
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.sources.rules import SourceKind
from leadgen.targets.registry import DB, GRAPH

if TYPE_CHECKING:
    from leadgen.compliance.service import ListImported
    from leadgen.privacy.tasks import Purged

db_app = typer.Typer(no_args_is_help=True, help="Database schema migrations (Alembic).")
users_app = typer.Typer(no_args_is_help=True, help="Dashboard users.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of lead sources.")
demo_app = typer.Typer(no_args_is_help=True, help="A realistic demo book of agents and sources.")
dnc_app = typer.Typer(no_args_is_help=True, help="The do-not-contact list.")
privacy_app = typer.Typer(
    no_args_is_help=True, help="Personal data: the retention purge, and erasures carried over a restore from a backup."
)
T = TypeVar("T")
CLI_ACTOR = "cli"
INVALID_LINES_SHOWN = 20


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], graph: bool = True) -> T:
    """Run ``work`` in one committed transaction; with ``graph``, agents it touches are written to
    the graph too (work that touches no agent need not wait for the graph store)."""

    async def run() -> T:
        resources = Resources.build(settings, frozenset({DB, GRAPH} if graph else {DB}), "cli")
        try:
            async with resources.unit_of_work() as session:
                result = await work(session)
            if resources.graph is not None:
                await resources.graph.ensure_schema()
                async with resources.require_sessions()() as session:
                    await sync_all(session, resources.graph)
            return result
        finally:
            await resources.close()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        raise fail(exc.detail) from None


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str | None,
        typer.Argument(
            help="Target revision. Without one: this release's newest (head), and a database that a newer "
            "release migrated already is left as it is.",
            show_default=False,
        ),
    ] = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it.")] = False,
) -> None:
    """Migrate the schema up (runs as a Job before each rollout in Kubernetes)."""
    from leadgen.core.migrate import upgrade

    _migrate(sql, lambda settings: upgrade(settings, revision, sql))


# "-1" is a relative revision, not an option.
@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Revision to go back to, e.g. -1.")],
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it.")] = False,
    confirm: Annotated[
        str | None,
        typer.Option(
            "--confirm",
            metavar="ENVIRONMENT",
            help="The environment's name (LEADGEN_ENVIRONMENT), typed out: outside development, a downgrade "
            "that loses data for good (to base, or below 0020: the consent records' hashes) needs it.",
        ),
    ] = None,
) -> None:
    """Migrate the schema down."""
    from leadgen.core.migrate import downgrade

    def confirmed_downgrade(settings: Settings) -> None:
        environment = settings.common.environment.value
        if confirm is not None and confirm != environment:
            raise fail(f"--confirm {confirm} does not name this environment, {environment}: nothing was changed", 2)
        downgrade(settings, revision, sql, losses_confirmed=confirm is not None)

    _migrate(sql, confirmed_downgrade)


def _migrate(sql: bool, action: Callable[[Settings], None]) -> None:
    """Run ``action``; a table locked at every try, a database newer than this release or a lossy
    downgrade unconfirmed is a one-line error saying what to do, not a traceback."""
    from leadgen.core.migrate import DatabaseNewerThanRelease, LossyDowngrade, MigrationLockTimeout

    with configuration() as settings:
        if sql and settings.database_url.startswith("sqlite"):
            # SQLite's migrations rewrite tables by reading them: there is no script of them to print.
            raise fail("--sql prints PostgreSQL's script: set LEADGEN_DB_URL to the PostgreSQL database", 2)
        try:
            action(settings)
        except (MigrationLockTimeout, DatabaseNewerThanRelease) as exc:
            raise fail(str(exc)) from None
        except LossyDowngrade as exc:
            environment = settings.common.environment.value
            raise fail(f"{exc}. Nothing was changed: in {environment}, that needs --confirm {environment}", 2) from None


PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of standard input, for scripts."),
]


def new_password(password_stdin: bool, envvar: str | None = None) -> str:
    """The password from standard input, else ``envvar`` when set, else prompted twice, hidden (on
    stderr, so that stdout holds only the answer). Never an argument, which shell history keeps."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail("no password on standard input", 2)
        return password
    if envvar and (password := os.environ.get(envvar, "")):
        return password
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return prompted


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in e-mail address.")],
    role: Annotated[str, typer.Option(help="admin, manager or agent.")] = "admin",
    agent_email: Annotated[str | None, typer.Option(help="For role agent: the agent this user signs in as.")] = None,
    password_stdin: PasswordStdinOption = False,
    as_json: bool = JsonOption,
) -> None:
    """Create a dashboard user. The password (at least 12 characters) comes from --password-stdin,
    else LEADGEN_NEW_USER_PASSWORD, else is prompted twice, hidden."""
    from leadgen.agents.repository import by_email
    from leadgen.auth.roles import Role
    from leadgen.auth.service import create_user

    try:
        parsed_role = Role(role)
    except ValueError:
        raise fail(f"role must be one of {', '.join(Role)}", 2) from None
    # For scripts that cannot write to standard input (a Job's env from a Secret).
    password = new_password(password_stdin, "LEADGEN_NEW_USER_PASSWORD")

    async def work(session: AsyncSession) -> dict[str, str]:
        agent_id = None
        if parsed_role is Role.AGENT:
            agent = await by_email(session, agent_email or email)
            if agent is None:
                raise DomainError(f"no agent with e-mail {agent_email or email}; agents sign in as themselves")
            agent_id = agent.id
        user = await create_user(session, email, password, parsed_role, agent_id, CLI_ACTOR)
        return {"id": str(user.id), "email": user.email, "role": user.role}

    with configuration() as settings:
        created = in_transaction(settings, work)
    emit(created, as_json, f"created {created['role']} {created['email']}")


@users_app.command("set-password")
def users_set_password(
    email: Annotated[str, typer.Argument(help="The user's sign-in e-mail address.")],
    password_stdin: PasswordStdinOption = False,
    as_json: bool = JsonOption,
) -> None:
    """Set a user's password (forgotten or leaked; audited): every session of theirs ends, and none of
    their devices is trusted at sign-in until it signs in with the new one. Prompted twice, hidden,
    unless --password-stdin; never taken as an argument, which would leave it in shell history."""
    from leadgen.auth.repository import user_by_email
    from leadgen.auth.service import reset_password

    password = new_password(password_stdin)

    async def work(session: AsyncSession) -> dict[str, str]:
        user = await user_by_email(session, email)
        if user is None:
            raise DomainError(f"no user with e-mail {email}")
        await reset_password(session, user.id, password, CLI_ACTOR)
        return {"id": str(user.id), "email": user.email}

    with configuration() as settings:
        changed = in_transaction(settings, work, graph=False)
    emit(changed, as_json, f"password set for {changed['email']}; their sessions have ended")


@users_app.command("list")
def users_list(
    email: Annotated[str | None, typer.Option(help="Only the user with this sign-in address (any case).")] = None,
    agent_id: Annotated[
        uuid.UUID | None, typer.Option(help="Only the user who signs in as this agent (the agent's id).")
    ] = None,
    role: Annotated[Role | None, typer.Option(help="Only users of this role.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Only users who may sign in, or only those who may not.")
    ] = None,
    before: Annotated[
        uuid.UUID | None, typer.Option(help="The next page: users created before this one (its id, from --json).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_USERS_PAGE, help="The most users shown.")] = 100,
    as_json: bool = JsonOption,
) -> None:
    """Dashboard users, the newest first, as GET /api/v1/auth/users gives them; every filter given
    must hold. Deactivating an agent leaves their sign-in on: --agent-id finds it."""
    from leadgen.auth.router import UserPublic
    from leadgen.auth.service import users

    async def read(session: AsyncSession) -> list[UserPublic] | None:
        # One user more than the page says whether another page follows.
        found = await users(session, limit + 1, before, email=email, agent_id=agent_id, role=role, active=active)
        return None if found is None else [UserPublic.model_validate(user) for user in found]

    with configuration() as settings:
        found = in_transaction(settings, read, graph=False)
    if found is None:
        raise fail(f"--before {before} names no user", 2)
    page = found[:limit]
    # The ids (the agent's too) are in --json and in the line naming the next page: columns of them
    # would squeeze the e-mail addresses, which name users to the other commands.
    rows = [
        [user.email, user.role, "yes" if user.active else "no", f"{user.created_at:%Y-%m-%d %H:%M}"] for user in page
    ]
    emit(
        [user.model_dump(mode="json") for user in page],
        as_json,
        table("Users, newest first (UTC)", ["e-mail", "role", "signs in", "created"], rows),
    )
    if len(found) > limit and not as_json:
        typer.echo(f"more users: the same command with --before {page[-1].id}")


@users_app.command("deactivate")
def users_deactivate(
    email: Annotated[str, typer.Argument(help="The user's sign-in e-mail address.")], as_json: bool = JsonOption
) -> None:
    """Turn a user's sign-in off (audited): every session of theirs ends at once, and none of their
    devices is trusted any more. Deactivating an agent does not do it: with their sign-in on, the
    agent still reads the leads they accepted. The last active admin stays one."""
    _set_sign_in(email, False, as_json)


@users_app.command("activate")
def users_activate(
    email: Annotated[str, typer.Argument(help="The user's sign-in e-mail address.")], as_json: bool = JsonOption
) -> None:
    """Turn a user's sign-in on again (audited); they sign in with their password as before."""
    _set_sign_in(email, True, as_json)


def _set_sign_in(email: str, active: bool, as_json: bool) -> None:
    """The API's change of access (``PATCH /api/v1/auth/users/{id}`` with ``active``), by address."""
    from leadgen.auth.repository import user_by_email
    from leadgen.auth.router import UserPublic
    from leadgen.auth.service import change_access

    async def work(session: AsyncSession) -> UserPublic:
        user = await user_by_email(session, email)
        if user is None:
            raise DomainError(f"no user with e-mail {email}")
        return UserPublic.model_validate(await change_access(session, user.id, active, None, CLI_ACTOR))

    with configuration() as settings:
        changed = in_transaction(settings, work, graph=False)
    done = "can sign in again" if active else "can no longer sign in; their sessions have ended"
    emit(changed.model_dump(mode="json"), as_json, f"{changed.email} {done}")


@keys_app.command("create")
def keys_create(
    source: Annotated[str, typer.Argument(help="Source name (created if new), e.g. acme-leads.")],
    kind: Annotated[
        SourceKind | None,
        typer.Option(
            help="Who sends its leads, for a new source: vendor unless given, or partner. A web source (the "
            "quote form's, web-form) takes no key."
        ),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create an API key for a lead source; the key is printed once and never stored. A switched-off
    source is refused: its keys would not work."""
    from leadgen.sources.service import create_key

    with configuration() as settings:
        created = in_transaction(
            settings,
            lambda session: create_key(session, source, CLI_ACTOR, create_missing=True, kind=kind),
            graph=False,
        )
    emit(created.model_dump(mode="json"), as_json, f"API key for {created.source} (shown once):\n{created.api_key}")


@keys_app.command("list")
def keys_list(
    source: Annotated[str, typer.Argument(help="The source, as `leadgen sources list` names it.")],
    as_json: bool = JsonOption,
) -> None:
    """The source's API keys by prefix (`lg_<prefix>_...`), working and revoked, the newest first."""
    from leadgen.sources.service import keys

    with configuration() as settings:
        found = in_transaction(settings, lambda session: keys(session, source), graph=False)
    rows = [[key.prefix, key.created_at, key.revoked_at or "works"] for key in found]
    emit(
        [key.model_dump() for key in found],
        as_json,
        table(f"API keys of {source}", ["prefix", "created", "revoked"], rows),
    )


@keys_app.command("revoke")
def keys_revoke(
    source: Annotated[str, typer.Argument(help="The source, as `leadgen sources list` names it.")],
    prefix: Annotated[str, typer.Argument(help="The key's prefix, as `leadgen api-keys list` shows it.")],
    as_json: bool = JsonOption,
) -> None:
    """Stop one API key of the source (leaked, or replaced by a new one); its other keys keep working.
    Every api process refuses it within 30 seconds. Audited."""
    from leadgen.sources.service import revoke_key

    with configuration() as settings:
        key = in_transaction(settings, lambda session: revoke_key(session, source, prefix, CLI_ACTOR), graph=False)
    emit(key.model_dump(), as_json, f"API key {key.prefix} of {source} revoked at {key.revoked_at}")


@dnc_app.command("import")
def dnc_import(
    path: Annotated[
        Path,
        typer.Argument(
            help="UTF-8 text, one phone number or e-mail address per line; # starts a comment.",
            exists=True,
            dir_okay=False,
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why these people are listed, kept with each entry.")] = (
        "on the agency's own do-not-contact list"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Bring the agency's own do-not-contact list over. Entries already listed are left as they are;
    leads of the people added are barred from contact and their open offers withdrawn. Lines that
    hold neither a valid phone number nor an e-mail address are reported by number, never echoed,
    and make the command exit 1 once the rest is listed."""
    from leadgen.compliance.service import import_list

    if not 1 <= len(reason) <= 255:
        raise fail("--reason must be 1 to 255 characters", 2)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise fail(f"{path} is not UTF-8 text: save it as UTF-8 (in Excel: CSV UTF-8)", 2) from None
    with configuration() as settings:
        key = settings.security.pii_hash_key.get_secret_value()

        async def run() -> ListImported:
            # Not in one transaction of the command's: ``import_list`` commits a batch at a time.
            resources = Resources.build(settings, frozenset({DB}), "cli")
            try:
                return await import_list(resources, lines, key, reason, CLI_ACTOR)
            finally:
                await resources.close()

        imported = asyncio.run(run())
    emit(
        asdict(imported),
        as_json,
        f"listed {imported.added} new, {imported.already_listed} already listed; {imported.leads} leads barred",
    )
    if imported.invalid_lines:
        count = len(imported.invalid_lines)
        shown = ", ".join(map(str, imported.invalid_lines[:INVALID_LINES_SHOWN]))
        more = f" and {count - INVALID_LINES_SHOWN} more" if count > INVALID_LINES_SHOWN else ""
        raise fail(f"not understood, so not listed: {count} line{'s' if count != 1 else ''} ({shown}{more})")


@privacy_app.command("purge")
def privacy_purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the people and leads it would anonymise; change nothing.")
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Anonymise every person inactive longer than LEADGEN_PRIVACY_RETENTION_DAYS, as an erasure
    does, and every one due, not a batch as the hourly job does; audited. Prints counts only. To
    preview a retention not set yet, set the variable for this command alone."""
    from leadgen.models.base import utcnow
    from leadgen.privacy.tasks import purge

    with configuration() as settings:
        days = settings.privacy.retention_days
        if not days:
            raise fail("LEADGEN_PRIVACY_RETENTION_DAYS is 0: the retention purge is off", 2)

        async def run() -> Purged:
            resources = Resources.build(settings, frozenset({DB}), "cli")
            try:
                return await purge(resources, days, utcnow(), CLI_ACTOR, every_batch=True, dry_run=dry_run)
            finally:
                await resources.close()

        purged = asyncio.run(run())
    done = "would anonymise" if dry_run else "anonymised"
    emit(asdict(purged), as_json, f"{done} {purged.people} people ({purged.leads} leads), inactive over {days} days")
    if purged.failed:
        raise fail(f"{purged.failed} people failed (logged); the hourly job tries them again")


@demo_app.command("load")
def demo_load(as_json: bool = JsonOption) -> None:
    """Load demo agents (licences in several states and lines, shifts, caps) and sources
    (development only: its users sign in with a published password)."""
    from leadgen.demo.book import load

    with configuration() as settings:
        if not settings.is_development:
            raise fail("the demo book is for development only: its users sign in with a published password", 2)
        summary = in_transaction(settings, load)
    emit(
        summary,
        as_json,
        f"demo book: {summary['agents']} agents, {summary['licences']} licences, "
        f"{summary['users']} agent users (password {summary['password']!r}), sources {', '.join(summary['sources'])}",
    )
