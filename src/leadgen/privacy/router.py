"""Data-subject requests (data-service, admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import EmailStr

from leadgen.auth.deps import AdminPrincipal
from leadgen.core.deps import SessionDep, SettingsDep
from leadgen.core.input import RequestBody
from leadgen.core.settings import Settings
from leadgen.privacy import service

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


class Person(RequestBody):
    email: EmailStr | None = None
    phone: str | None = None


@router.post("/export")
async def export(
    person: Annotated[Person, Body()], principal: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Everything held about a person, found by e-mail address and/or phone number. A phone number's
    extension ("ext. 101") tells apart people at one switchboard: the leads of its other extensions
    are listed in ``linked_leads``, not exported. ``consent_records`` holds the consent given for the
    number or address, that of erased leads too (``lead_anonymised``) until it is five years old."""
    asked = _data_subject(person, settings)
    return await service.export(session, asked.hashes, principal.label(), asked.phone_extension)


@router.post("/erase")
async def erase(
    person: Annotated[Person, Body()], principal: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Anonymise a person's leads (aggregates stay) and block them from future contact. Leads that
    share only another identifier with theirs, or the phone number with another extension, are
    listed in ``linked_leads``, not erased."""
    asked = _data_subject(person, settings)
    erased = await service.erase(session, asked.hashes, principal.label(), asked.phone_extension)
    return {
        "anonymised_leads": [str(lead.id) for lead in erased.anonymised],
        "linked_leads": [str(lead_id) for lead_id in erased.linked],
    }


def _data_subject(person: Person, settings: Settings) -> service.DataSubject:
    key = settings.security.pii_hash_key.get_secret_value()
    return service.data_subject(key, person.email and str(person.email), person.phone)
