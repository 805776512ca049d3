"""``leadgen audit``: the audit log of admin actions and access to personal data."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit.schemas import MAX_PAGE, AuditEntryPublic, AuditFilters
from leadgen.cli.admin import in_transaction
from leadgen.cli.output import JsonOption, configuration, emit, fail, table

app = typer.Typer(no_args_is_help=True, help="The audit log: admin actions and access to personal data.")


def moment_option(value: str) -> datetime:
    # Typer's own datetimes take no time zone; an operator's "2026-11-27" means UTC, as stored.
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 date or time, such as 2026-11-27 or 2026-11-27T09:30:00-06:00") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Page:
    entries: list[AuditEntryPublic]
    more: bool


@app.command("list")
def audit_list(
    action: Annotated[str | None, typer.Option(help="Only this action, such as agent.updated.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor: user:<id>, cli, retention…")] = None,
    subject_type: Annotated[str | None, typer.Option(help="Only entries about this kind: lead, agent…")] = None,
    subject_id: Annotated[str | None, typer.Option(help="Only entries about this one (with --subject-type).")] = None,
    since: Annotated[
        datetime | None, typer.Option(parser=moment_option, help="Written at or after this time (UTC unless it says).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(parser=moment_option, help="Written before this time (UTC unless it says).")
    ] = None,
    before: Annotated[
        uuid.UUID | None, typer.Option(help="The next page: entries older than this one (its id, from --json).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE, help="The most entries shown.")] = 100,
    as_json: bool = JsonOption,
) -> None:
    """The newest entries first, as GET /api/v1/audit gives them; every filter given must hold."""
    from leadgen.audit import repository as audit

    try:
        filters = AuditFilters(
            since=since, until=until, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        option = str(error["loc"][0]).replace("_", "-")
        raise fail(f"--{option}: {error['msg'].removeprefix('Value error, ')}", 2) from None

    async def read(session: AsyncSession) -> _Page | None:
        position = None if before is None else await audit.position(session, before)
        if before is not None and position is None:
            return None
        # One entry more than the page says whether another page follows.
        entries = await audit.listing(session, filters, limit + 1, position)
        return _Page([AuditEntryPublic.model_validate(entry) for entry in entries[:limit]], len(entries) > limit)

    with configuration() as settings:
        page = in_transaction(settings, read, graph=False)
    if page is None:
        raise fail(f"--before {before} names no audit entry", 2)
    # The ids are in --json and in the line naming the next page: a column of them would squeeze the rest.
    rows = [
        [f"{entry.at:%Y-%m-%d %H:%M:%S}", entry.actor, entry.action, _subject(entry), json.dumps(entry.data)]
        for entry in page.entries
    ]
    emit(
        [entry.model_dump(mode="json") for entry in page.entries],
        as_json,
        table("Audit log, newest first (UTC)", ["at", "actor", "action", "subject", "data"], rows),
    )
    if page.more and not as_json:
        typer.echo(f"older entries: the same command with --before {page.entries[-1].id}")


def _subject(entry: AuditEntryPublic) -> str:
    return f"{entry.subject_type} {entry.subject_id}" if entry.subject_id else entry.subject_type
