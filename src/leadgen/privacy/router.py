"""Data-subject requests (data-service, admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import EmailStr

from leadgen.auth.deps import AdminPrincipal
from leadgen.core.deps import SessionDep, SettingsDep
from leadgen.core.input import RequestBody
from leadgen.privacy import service

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


class Person(RequestBody):
    email: EmailStr | None = None
    phone: str | None = None


@router.post("/export")
async def export(
    person: Annotated[Person, Body()], principal: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Everything held about a person, found by e-mail address and/or phone number."""
    hashes = service.person_hashes(
        settings.security.pii_hash_key.get_secret_value(), person.email and str(person.email), person.phone
    )
    return await service.export(session, hashes, principal.label())


@router.post("/erase")
async def erase(
    person: Annotated[Person, Body()], principal: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Anonymise a person's leads (aggregates stay) and block them from future contact. Leads that
    share only another identifier with theirs are listed in ``linked_leads``, not erased."""
    hashes = service.person_hashes(
        settings.security.pii_hash_key.get_secret_value(), person.email and str(person.email), person.phone
    )
    erased = await service.erase(session, hashes, principal.label())
    return {
        "anonymised_leads": [str(lead.id) for lead in erased.anonymised],
        "linked_leads": [str(lead_id) for lead_id in erased.linked],
    }
