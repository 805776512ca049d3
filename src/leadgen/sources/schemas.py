"""Sources as admins read and change them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from leadgen.core.input import RequestBody
from leadgen.sources.rules import MAX_PRICE_CENTS


class ApiKeyPublic(BaseModel):
    """One of a source's API keys, as admins tell them apart; the key itself is never kept."""

    prefix: str = Field(description="The 8 characters after `lg_` in the key: `lg_<prefix>_...`.")
    created_at: datetime
    revoked_at: datetime | None = Field(description="When it stopped working; null while it works.")


class ApiKeyCreated(ApiKeyPublic):
    """A key just made for a source, with the key itself: this answer is the only place it is shown."""

    source: str = Field(description="The source's name.")
    source_id: uuid.UUID = Field(description="What a routing policy names the source by (its `source_id`).")
    api_key: str = Field(
        description="The key itself, `lg_<prefix>_<secret>`, for the X-API-Key header. Shown this once: only "
        "its prefix and a SHA-256 digest are kept, so a lost key is revoked and replaced, never shown again."
    )


class SourcePublic(BaseModel):
    id: uuid.UUID = Field(description="What a routing policy names the source by (its `source_id`).")
    name: str
    kind: str
    active: bool = Field(description="Whether the source's API keys are accepted.")
    price_cents: int = Field(
        description="What each lead received from the source from now on costs; leads received before keep the "
        "price they were bought at."
    )
    leads_received: int = Field(description="Live leads received from the source, over all time (test leads left out).")


class SourceUpdate(RequestBody):
    """A change to a source: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    # Strict: a price is a whole number of cents, never true, "12" or 12.0.
    price_cents: StrictInt | None = Field(
        None,
        description=f"0 to {MAX_PRICE_CENTS}: the price of the leads received from now on; the reports keep "
        "pricing earlier leads at what they were bought at.",
    )
    active: bool | None = Field(
        None,
        description="false refuses the source's API keys (within 30 seconds: each api process keeps a key that "
        "long); the quote form's source, web-form, has no key, and the form stays open.",
    )

    @field_validator("price_cents", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value
