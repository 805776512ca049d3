"""``leadgen sources``: the lead sources and what each of their leads costs."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.cli.admin import CLI_ACTOR, in_transaction
from leadgen.cli.output import JsonOption, configuration, emit, fail, table
from leadgen.sources.rules import MAX_PRICE_CENTS, dollars, price_problem
from leadgen.sources.schemas import SourcePublic

app = typer.Typer(no_args_is_help=True, help="Lead sources and their prices per lead.")


@app.command("list")
def sources_list(as_json: bool = JsonOption) -> None:
    """Every source: its kind, whether its API keys work, its price per lead and its live leads."""
    from leadgen.sources.service import listing

    with configuration() as settings:
        sources = in_transaction(settings, listing, graph=False)
    rows = [
        [source.name, source.kind, "yes" if source.active else "no", dollars(source.price_cents), source.leads_received]
        for source in sources
    ]
    emit(
        [source.model_dump() for source in sources],
        as_json,
        table("Sources", ["name", "kind", "active", "price per lead", "leads received"], rows),
    )


def _whole_cents(value: str) -> int:
    # Typer's own integers take 15.00 for 15: a price typed in dollars would be set in cents.
    if not re.fullmatch(r"-?[0-9]+", value):
        raise typer.BadParameter("a whole number of cents, such as 1500 for $15.00")
    return int(value)


@app.command("set-price")
def sources_set_price(
    name: Annotated[str, typer.Argument(help="The source, as `leadgen sources list` names it.")],
    cents: Annotated[
        int,
        typer.Argument(
            parser=_whole_cents, help=f"The price per lead in cents, 0 to {MAX_PRICE_CENTS}: 1500 is $15.00."
        ),
    ],
    as_json: bool = JsonOption,
) -> None:
    """Set the price of the source's leads received from now on.

    Leads received before keep the price they were bought at, in the reports too. Audited."""
    from leadgen.sources.service import change

    if problem := price_problem(cents):
        raise fail(problem, 2)

    async def work(session: AsyncSession) -> SourcePublic:
        return await change(session, name, CLI_ACTOR, price_cents=cents)

    with configuration() as settings:
        changed = in_transaction(settings, work, graph=False)
    emit(changed.model_dump(), as_json, f"{changed.name}: {dollars(changed.price_cents)} per lead from now on")
