"""Score a lead without storing it (orchestrator): lets admins see how the model and the rules weigh a lead."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from leadgen.auth.deps import StaffPrincipal
from leadgen.leads.schemas import LeadCreate
from leadgen.models.base import utcnow
from leadgen.scoring.model import default_model
from leadgen.scoring.rules import rules_score

router = APIRouter(prefix="/api/v1/scoring", tags=["scoring"])


@router.post("/preview")
async def preview(
    lead: Annotated[LeadCreate, Body()],
    _: StaffPrincipal,
    source: Annotated[str | None, Query(max_length=100, description="Source name the lead would arrive from.")] = None,
) -> dict[str, Any]:
    """The rules score and the model score of a lead payload, each with its factors; nothing is stored.

    The top-level ``score``, ``model`` and ``factors`` are the rules score's (as before); ``model_score``
    holds the trained model's calibrated score, conversion probability and top factors in score points.
    """
    now = utcnow()
    consent = lead.consent
    row = {
        "line": lead.line,
        "phone": lead.contact.phone,
        "email": lead.contact.email,
        "street": lead.contact.address.street,
        "currently_insured": lead.currently_insured,
        "policy_expires_on": lead.policy_expires_on,
        "is_test": lead.test,
        "details": lead.details.model_dump(mode="json"),
        "source": source,
        "state": lead.contact.address.state,
        "received_at": now,
        "campaign": lead.campaign,
        "consent_verified": bool(consent and (consent.trustedform_cert_url or consent.jornaya_leadid)),
    }
    result = rules_score(row, now.date())
    scored = default_model().score(row)
    return {"score": result.score, **result.as_payload(), "model_score": {"score": scored.score, **scored.as_payload()}}
