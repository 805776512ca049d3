"""The scoring preview shows the model score beside the rules score (the route function, no HTTP)."""

from __future__ import annotations

import uuid

from pydantic import TypeAdapter

from leadgen.auth.roles import Principal, Role
from leadgen.leads.schemas import LeadCreate
from leadgen.scoring.model import MODEL_VERSION
from leadgen.scoring.router import preview
from tests.conftest import lead_payload

ADMIN = Principal(uuid.uuid4(), Role.ADMIN, None)


async def test_preview_has_both_scores() -> None:
    lead = TypeAdapter(LeadCreate).validate_python(lead_payload())
    body = await preview(lead, ADMIN, source="acme-leads")
    assert body["model"] == "rules-v1" and isinstance(body["score"], int)  # unchanged rules part
    model = body["model_score"]
    assert model["model"] == MODEL_VERSION and 0 <= model["score"] <= 100
    assert 0 < model["probability"] < 1 and 1 <= len(model["factors"]) <= 5
    assert any("no consent certificate" in f["factor"] for f in model["factors"])  # no TrustedForm/Jornaya sent


async def test_preview_without_a_source_scores_it_as_average() -> None:
    lead = TypeAdapter(LeadCreate).validate_python(lead_payload(test=True))
    body = await preview(lead, ADMIN)
    assert body["score"] == 0 and body["model_score"]["score"] == 0
