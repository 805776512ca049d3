"""Lead sources and their prices (data-service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import SessionDep
from leadgen.sources import service
from leadgen.sources.schemas import ApiKeyCreated, ApiKeyPublic, SourcePublic, SourceUpdate

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


@router.get("")
async def list_sources(_: StaffPrincipal, session: SessionDep) -> list[SourcePublic]:
    """Every lead source by name: its kind, whether its API keys work, its price per lead and the
    live leads received from it."""
    return await service.listing(session)


@router.patch(
    "/{name}",
    responses={
        404: {"description": "No such source"},
        422: {"description": "A field failed validation; nothing changed"},
    },
)
async def update_source(
    name: str, data: Annotated[SourceUpdate, Body()], principal: AdminPrincipal, session: SessionDep
) -> SourcePublic:
    """Change a source's price per lead (`price_cents`) or switch its API keys off and on (`active`);
    only the fields sent change.

    A new price applies to the leads received from now on: the reports keep pricing earlier leads at
    what they were bought at. Each change is audited (`source.updated`) with the old and new values.
    """
    return await service.change(session, name, principal.label(), price_cents=data.price_cents, active=data.active)


@router.get("/{name}/keys", responses={404: {"description": "No such source"}})
async def list_keys(name: str, _: AdminPrincipal, session: SessionDep) -> list[ApiKeyPublic]:
    """The source's API keys, working and revoked, the newest first, each by its prefix (the key
    itself is shown once, when it is made, and never kept)."""
    return await service.keys(session, name)


@router.post(
    "/{name}/keys",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "No such source"},
        409: {"description": "The source is switched off, or is a web source (the quote form's takes no key)"},
    },
)
async def create_key(name: str, principal: AdminPrincipal, session: SessionDep, response: Response) -> ApiKeyCreated:
    """A new API key for the source, its other keys left working: to replace a leaked one, make the
    new key, hand it to the vendor, then revoke the old. The key itself is in this answer alone (never
    kept: only its prefix and a SHA-256 digest are), so the answer is not to be cached. Audited as
    `api_key.created` with the prefix. A switched-off source (`active: false`) is refused with 409, as
    its keys would not work; so is a web source.
    """
    # The key is a secret shown once: no cache on the way may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return await service.create_key(session, name, principal.label())


@router.post(
    "/{name}/keys/{prefix}/revoke",
    responses={404: {"description": "No such source, or no such key of it"}},
)
async def revoke_key(name: str, prefix: str, principal: AdminPrincipal, session: SessionDep) -> ApiKeyPublic:
    """Stop one API key of the source (leaked, or replaced by a new one made with `POST
    /api/v1/sources/{name}/keys` or `leadgen api-keys create`); its other keys keep working. Every api
    process refuses it within 30 seconds (each keeps a key it checked that long). Audited as
    `api_key.revoked`; revoking it again changes nothing.
    """
    return await service.revoke_key(session, name, prefix, principal.label())
