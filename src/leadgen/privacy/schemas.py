"""What ``leadgen privacy erasures`` lists of a database, and ``leadgen privacy reapply`` reads back
into one restored from a backup."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Why a lead was anonymised, as its ``lead.anonymised`` event says (``service.ERASURE_REQUEST``,
# ``service.RETENTION``).
AnonymisedFor = Literal["erasure request", "retention"]


class _Listing(BaseModel):
    # A file edited by hand, or of another shape, is refused whole rather than half understood.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnonymisedLead(_Listing):
    lead_id: uuid.UUID
    at: AwareDatetime
    reason: AnonymisedFor


class ErasureEntry(_Listing):
    """A do-not-contact entry an erasure added, by the keyed hash the list knows it by."""

    kind: str = Field(max_length=8)
    value_hash: str = Field(min_length=64, max_length=64)
    at: AwareDatetime


class Erasures(_Listing):
    """The leads anonymised (by an erasure request or the retention purge) and the do-not-contact
    entries erasures added at ``since`` or after, oldest first: what a database restored from a
    backup taken at ``since`` lacks. The entries besides the leads: an erasure lists the person's
    identifiers asked about even when no lead of theirs was found, or when their leads came after
    the backup."""

    since: AwareDatetime | None
    listed_at: AwareDatetime
    anonymised: list[AnonymisedLead]
    do_not_contact: list[ErasureEntry]
