"""``leadgen privacy erasures`` and ``leadgen privacy reapply``: erasures and opt-outs carried over
a restore from a backup, which would otherwise bring back the people erased since, and let the
platform contact those who opted out since."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.cli.admin import CLI_ACTOR, in_transaction
from leadgen.cli.audit import moment_option
from leadgen.cli.output import JsonOption, configuration, emit, fail, table
from leadgen.core.resources import Resources
from leadgen.targets.registry import DB

if TYPE_CHECKING:
    from leadgen.privacy.restore import Reapplied
    from leadgen.privacy.schemas import Erasures

# Its commands join those of ``leadgen privacy`` (``admin.privacy_app``).
app = typer.Typer()


@app.command("erasures")
def privacy_erasures(
    since: Annotated[
        datetime | None,
        typer.Option(
            parser=moment_option,
            help=(
                "Anonymised, listed or opted out at or after this time (UTC unless it says): when the backup to "
                "restore began."
            ),
        ),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """List the leads anonymised (by an erasure request or the retention purge), the do-not-contact
    entries erasures, opt-outs and imported lists added, the entries taken off as listed by mistake,
    and the leads' opt-out events, since --since: keyed hashes and lead ids, never a number or an
    address. Reads only, so a read-only standby serves. Before switching to a database restored
    from a backup, save this from the database it replaces (--json) and give the file to `leadgen
    privacy reapply` against the restored one."""
    from leadgen.privacy import restore

    async def read(session: AsyncSession) -> Erasures:
        return await restore.erasures(session, since)

    with configuration() as settings:
        erased = in_transaction(settings, read, graph=False)
    rows = [[f"{lead.at:%Y-%m-%d %H:%M:%S}", lead.reason, lead.lead_id] for lead in erased.anonymised]
    summary = (
        f"{len(erased.anonymised)} leads anonymised, {len(erased.do_not_contact)} do-not-contact entries added by "
        f"erasures, {len(erased.opted_out)} by opt-outs and imports, {len(erased.taken_off)} taken off as listed by "
        f"mistake, {len(erased.opt_out_events)} opt-out events: save them with --json for `leadgen privacy reapply`"
    )
    human = table("Leads anonymised, oldest first (UTC)", ["at", "why", "lead"], rows) if rows else summary
    emit(erased.model_dump(mode="json"), as_json, human)
    if rows and not as_json:
        typer.echo(summary)


@app.command("reapply")
def privacy_reapply(
    file: Annotated[
        Path,
        typer.Argument(
            help="What `leadgen privacy erasures --json` printed; /dev/stdin reads it as `kubectl exec -i` passes it.",
            exists=True,
            dir_okay=False,
        ),
    ],
    as_json: bool = JsonOption,
) -> None:
    """Erase again, in a database restored from a backup, what `leadgen privacy erasures` listed:
    each lead as it was anonymised (an erasure's person listed on the do-not-contact list again),
    and the erasures' entries; then list the opt-outs' and imports' entries again (the leads they
    bar lose their open offers), take off those taken off as listed by mistake, and record the
    leads' opt-out events; audited. What is done already, and leads the restored database does not
    hold (received after the backup), are counted and skipped: running it twice is safe. A file of
    an older release (version 1) carries erasures only."""
    from leadgen.privacy import restore
    from leadgen.privacy.schemas import Erasures

    try:
        erased = Erasures.model_validate_json(file.read_bytes())
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"])) or "the file"
        raise fail(
            f"{file} is not what `leadgen privacy erasures --json` prints ({where}: {error['msg']})", 2
        ) from None

    with configuration() as settings:

        async def run() -> Reapplied:
            resources = Resources.build(settings, frozenset({DB}), "cli")
            try:
                return await restore.reapply(resources, erased, CLI_ACTOR)
            finally:
                await resources.close()

        done = asyncio.run(run())
    emit(
        asdict(done),
        as_json,
        f"anonymised {done.anonymised} leads again ({done.already_anonymised} anonymised already, {done.missing} "
        f"not in this database); listed {done.listed} do-not-contact entries again ({done.already_listed} already); "
        f"listed {done.opt_outs_listed} opt-out entries again ({done.already_opted_out} already), took "
        f"{done.taken_off} off; recorded {done.opt_out_events} opt-out events again ({done.already_opt_out_events} "
        f"already, {done.opt_out_events_missing} of leads not in this database)",
    )
