"""Shared builders for the scoring tests: plain lead rows as the pipeline stores them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from leadgen.scoring.model import LeadScoreModel, default_model

RECEIVED = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Texas


def lead_row(**changes: Any) -> dict[str, Any]:
    """A complete auto lead row; keyword arguments replace keys."""
    row: dict[str, Any] = {
        "line": "auto",
        "phone": "+15125550147",
        "email": "pat@example.com",
        "street": "12 Oak Street",
        "currently_insured": True,
        "policy_expires_on": date(2026, 3, 25),
        "is_test": False,
        "details": {
            "drivers": [{"age_first_licensed": 17, "incidents_last_5_years": 1, "sr22_required": False}],
            "vehicles": [{"year": 2020, "make": "Toyota", "model": "Camry", "use": "commute"}],
            "coverage_tier": "standard",
        },
        "source": "acme-leads",
        "state": "TX",
        "received_at": RECEIVED,
        "consent_verified": True,
        "campaign": "spring-auto",
    }
    row.update(changes)
    return row


@pytest.fixture(scope="session")
def model() -> LeadScoreModel:
    return default_model()
