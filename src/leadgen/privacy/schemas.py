"""What ``leadgen privacy erasures`` lists of a database, and ``leadgen privacy reapply`` reads back
into one restored from a backup.

Versioned by ``version``: 1 (no such field) held the erasures alone; 2 adds the opt-outs. A file of
version 1 is read as it was: it carries no opt-out, and says so by its version."""

from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from leadgen.compliance.repository import OPT_OUT_WITHDRAWN_EVENT
from leadgen.compliance.rules import OPTED_OUT_EVENT

# The version ``leadgen privacy erasures`` writes.
LISTING_VERSION = 2

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


class OptOutEntry(_Listing):
    """A do-not-contact entry listed for anything but an erasure: a person's opt-out (a STOP, an
    unsubscribe link, staff, an agent, a lead linking to a listed one) or the agency's imported
    list, with the reason the list keeps it by (no identifier: the reasons are fixed wordings, or
    the one an admin gave an import)."""

    kind: str = Field(max_length=8)
    value_hash: str = Field(min_length=64, max_length=64)
    reason: str = Field(min_length=1, max_length=255)
    at: AwareDatetime


class TakenOffEntry(_Listing):
    """An entry the old database no longer lists, taken off as listed by mistake since: a hash of a
    lead whose opt-out was withdrawn (``lead.opt_out_withdrawn``) and that the list no longer holds."""

    kind: str = Field(max_length=8)
    value_hash: str = Field(min_length=64, max_length=64)
    at: AwareDatetime  # when the opt-out was withdrawn


class OptOutEvent(_Listing):
    """A lead's ``lead.opted_out`` (``said``: how, its ``via``) or ``lead.opt_out_withdrawn``
    (``said``: the removal's reason): what reports count, and what tells a later withdrawal which
    opt-out stands (``compliance.repository.opted_out_among``)."""

    lead_id: uuid.UUID
    name: Literal["lead.opted_out", "lead.opt_out_withdrawn"]
    said: str = Field(max_length=255)
    at: AwareDatetime


# The key of each event's data that ``said`` is.
SAID_BY = {OPTED_OUT_EVENT: "via", OPT_OUT_WITHDRAWN_EVENT: "reason"}


class Erasures(_Listing):
    """The leads anonymised (by an erasure request or the retention purge) and the do-not-contact
    entries erasures added at ``since`` or after, oldest first: what a database restored from a
    backup taken at ``since`` lacks. The entries besides the leads: an erasure lists the person's
    identifiers asked about even when no lead of theirs was found, or when their leads came after
    the backup."""

    version: Literal[1, 2] = 1
    since: AwareDatetime | None
    listed_at: AwareDatetime
    anonymised: list[AnonymisedLead]
    do_not_contact: list[ErasureEntry]
    # Version 2: the opt-outs and imported entries listed since, those taken off as listed by
    # mistake, and the leads' opt-out events.
    opted_out: list[OptOutEntry] = []
    taken_off: list[TakenOffEntry] = []
    opt_out_events: list[OptOutEvent] = []

    @model_validator(mode="after")
    def _of_its_version(self) -> Self:
        if self.version == 1 and (self.opted_out or self.taken_off or self.opt_out_events):
            raise ValueError("a file of version 1 holds no opt-outs: set version to 2, or remove them")
        listed = {entry.value_hash for entry in self.do_not_contact} | {entry.value_hash for entry in self.opted_out}
        if any(entry.value_hash in listed for entry in self.taken_off):
            raise ValueError("an entry is both listed and taken off: the file was not written by `erasures`")
        return self
