"""What a reader of the audit log asks for and what it gets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from leadgen.core.input import refuse_nul

MAX_PAGE = 500


def in_utc(moment: datetime) -> datetime:
    """The moment in UTC, as it is stored; one that UTC cannot write (year 1 east of Greenwich) is
    refused rather than failing the query."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


Moment = Annotated[AwareDatetime, AfterValidator(in_utc)]


class AuditFilters(BaseModel):
    """Which entries: every given filter must hold (exact values; ``until`` not included)."""

    since: Moment | None = Field(None, description="Entries written at or after this time (with its zone).")
    until: Moment | None = Field(None, description="Entries written before this time (with its zone).")
    actor: str | None = Field(None, min_length=1, max_length=128, description="Who acted: `user:<email>`, `cli`…")
    action: str | None = Field(None, min_length=1, max_length=64, description="Such as `agent.updated`.")
    subject_type: str | None = Field(None, min_length=1, max_length=32, description="Such as `lead` or `agent`.")
    subject_id: str | None = Field(None, min_length=1, max_length=64)

    _texts_without_nul = field_validator("actor", "action", "subject_type", "subject_id")(refuse_nul)

    @field_validator("until")
    @classmethod
    def _after_since(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and until <= since:
            raise ValueError("must be later than since")
        return until


class AuditPageQuery(AuditFilters):
    """A page of the log, newest first."""

    limit: int = Field(100, ge=1, le=MAX_PAGE, description="The most entries in the answer.")
    before: uuid.UUID | None = Field(
        None,
        description="The next page: only entries older than this one (the `id` of the last entry of the "
        "page before; the answer's `Link` header names the next page).",
    )


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime = Field(validation_alias="created_at")
    actor: str
    action: str
    subject_type: str
    subject_id: str | None
    data: dict[str, Any]
