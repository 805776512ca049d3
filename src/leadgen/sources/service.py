"""Listing sources, changing their price and whether their keys work, and making and revoking their
keys: the API and the CLI both go through here."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.service import create_api_key
from leadgen.core.errors import Conflict, InvalidInput, NotFound
from leadgen.core.security import split_api_key
from leadgen.models import ApiKey, Source
from leadgen.models.base import utcnow
from leadgen.sources import repository, rules
from leadgen.sources.rules import SourceKind
from leadgen.sources.schemas import ApiKeyCreated, ApiKeyPublic, SourcePublic


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


async def create_key(
    session: AsyncSession, name: str, actor: str, *, create_missing: bool = False, kind: SourceKind | None = None
) -> ApiKeyCreated:
    """A new key for the source, its plaintext in the answer alone: only its prefix and SHA-256 digest
    are kept, and the audit entry (``api_key.created``) names the prefix.

    An unknown source is ``NotFound``, unless ``create_missing`` (the CLI's way with a new vendor)
    creates it as ``kind``, vendor unless given; a ``kind`` given for a source of another kind is
    refused. So is a switched-off source (``Conflict``): intake refuses every key of it, so the new
    one would answer 401 without a word. The source is locked meanwhile, so a switch-off at the same
    moment takes its turn. A web source takes no key (``auth.service.create_api_key``)."""
    source = await repository.for_change(session, name)
    if source is None and not create_missing:
        raise NotFound(f"source {name} not found")
    if source is not None and not source.active:
        raise Conflict(
            f"source {name} is switched off (active: false) and intake refuses its keys, so no key is made: "
            f"switch it on first (PATCH /api/v1/sources/{name} with active: true)"
        )
    source, plaintext = await create_api_key(session, name, kind, actor)
    prefix = split_api_key(plaintext)
    assert prefix is not None  # a key of ours, just made
    key = await _key_of(session, source, prefix)
    assert key is not None  # added by ``create_api_key`` in this transaction
    return ApiKeyCreated(**_key(key).model_dump(), source=source.name, source_id=source.id, api_key=plaintext)


async def revoke_key(session: AsyncSession, name: str, prefix: str, actor: str) -> ApiKeyPublic:
    """Stop one of the source's keys (leaked, or replaced by a new one), leaving its others working.
    Every api process stops taking it within ``auth.service.KEY_CACHE_SECONDS`` of the commit.
    Audited once: revoking a revoked key changes nothing."""
    source = await _named(session, name)
    key = await _key_of(session, source, prefix)
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


async def _key_of(session: AsyncSession, source: Source, prefix: str) -> ApiKey | None:
    return next((key for key in await repository.keys_of(session, source) if key.prefix == prefix), None)


def _key(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(prefix=key.prefix, created_at=key.created_at, revoked_at=key.revoked_at)
