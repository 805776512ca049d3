"""What the returns report answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SourceReturnsPublic(BaseModel):
    """One source's returns among its leads received in the period; see ``rules.SourceReturns``."""

    model_config = ConfigDict(from_attributes=True)

    source: str
    leads_accepted: int = Field(description="The source's leads at least one agent accepted.")
    leads_credited: int = Field(
        description="Of those, the leads returned to the source, which it credits (status `RETURNED`): a shared "
        "lead only once every agent who took it returned it."
    )
    return_rate: float | None = Field(
        description="`leads_credited` / `leads_accepted`, as the performance report's by source; null when no "
        "lead was accepted."
    )
    offers_accepted: int = Field(
        description="Offers of the source's leads that agents accepted: a shared lead counts once per agent who "
        "took it."
    )
    offers_returned: int = Field(
        description="Of those, the offers their agents returned, whether the lead was credited or another agent "
        "kept it."
    )
    top_reason: str | None = Field(
        description="The reason given most often on the returned offers (of those given as often, the first in "
        "alphabetical order); null when none was returned."
    )


class ReturnsReport(BaseModel):
    since: datetime
    until: datetime
    rows: list[SourceReturnsPublic] = Field(
        description="Each source with a lead offered in the period, in the order of their names."
    )
