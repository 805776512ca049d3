"""Listing sources, changing their price and whether their keys work, and revoking one key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.core.errors import InvalidInput, NotFound
from leadgen.models import ApiKey, Source
from leadgen.models.base import utcnow
from leadgen.sources import repository, rules
from leadgen.sources.schemas import ApiKeyPublic, SourcePublic


async def listing(session: AsyncSession) -> list[SourcePublic]:
    return [_public(source, leads) for source, leads in await repository.with_leads_received(session)]


async def change(
    session: AsyncSession, name: str, actor: str, *, price_cents: int | None = None, active: bool | None = None
) -> SourcePublic:
    """Set the source's price per lead and/or whether its keys work (None keeps a field as it is).

    A new price applies to the leads received after this commits; each lead keeps the price it was
    bought at. A change is audited with the old and new values; the same values again change nothing.
    """
    if price_cents is not None and (problem := rules.price_problem(price_cents)):
        raise InvalidInput(problem, [{"field": "price_cents", "reason": problem}])
    source = await _named(session, name)
    changes: dict[str, Any] = {}
    if price_cents is not None and price_cents != source.cost_per_lead_cents:
        changes["price_cents"] = [source.cost_per_lead_cents, price_cents]
        source.cost_per_lead_cents = price_cents
    if active is not None and active != source.active:
        changes["active"] = [source.active, active]
        source.active = active
    if changes:
        await audit.record(session, actor, "source.updated", "source", str(source.id), changes)
    [(changed, leads)] = await repository.with_leads_received(session, name)
    return _public(changed, leads)


def _public(source: Source, leads_received: int) -> SourcePublic:
    return SourcePublic(
        id=source.id,
        name=source.name,
        kind=source.kind,
        active=source.active,
        price_cents=source.cost_per_lead_cents,
        leads_received=leads_received,
    )


async def keys(session: AsyncSession, name: str) -> list[ApiKeyPublic]:
    """The source's API keys, working and revoked, the newest first."""
    source = await _named(session, name)
    return [_key(key) for key in await repository.keys_of(session, source)]


async def revoke_key(session: AsyncSession, name: str, prefix: str, actor: str) -> ApiKeyPublic:
    """Stop one of the source's keys (leaked, or replaced by a new one), leaving its others working.
    Every api process stops taking it within ``auth.service.KEY_CACHE_SECONDS`` of the commit.
    Audited once: revoking a revoked key changes nothing."""
    source = await _named(session, name)
    key = next((key for key in await repository.keys_of(session, source) if key.prefix == prefix), None)
    if key is None:
        raise NotFound(f"source {name} has no API key {prefix}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await audit.record(session, actor, "api_key.revoked", "source", str(source.id), {"prefix": prefix})
    return _key(key)


async def _named(session: AsyncSession, name: str) -> Source:
    source = await repository.for_change(session, name)
    if source is None:
        raise NotFound(f"source {name} not found")
    return source


def _key(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(prefix=key.prefix, created_at=key.created_at, revoked_at=key.revoked_at)
