"""Score a lead without storing it (orchestrator): lets admins see how the rules weigh a lead."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from leadgen.auth.deps import StaffPrincipal
from leadgen.leads.schemas import LeadCreate
from leadgen.models.base import utcnow
from leadgen.scoring.rules import rules_score

router = APIRouter(prefix="/api/v1/scoring", tags=["scoring"])


@router.post("/preview")
async def preview(lead: Annotated[LeadCreate, Body()], _: StaffPrincipal) -> dict[str, Any]:
    """The score and its factors for a lead payload; nothing is stored."""
    row = {
        "line": lead.line, "phone": lead.contact.phone, "email": lead.contact.email,
        "street": lead.contact.address.street, "currently_insured": lead.currently_insured,
        "policy_expires_on": lead.policy_expires_on, "is_test": lead.test,
        "details": lead.details.model_dump(mode="json"),
    }
    result = rules_score(row, utcnow().date())
    return {"score": result.score, **result.as_payload()}
