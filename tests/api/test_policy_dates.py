"""A lead's current policy date lies within 2 years before and 5 years after its receipt: a date
outside is refused by name, so a sender cannot move the score with a made-up one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests import helpers
from tests.api.test_intake import nothing_stored
from tests.api.test_quote_requests import QUOTES, quote_request_payload
from tests.conftest import lead_payload

LEADS = "/api/v1/leads"


def _today() -> date:
    return datetime.now(UTC).date()


def _days_from_today(days: int) -> str:
    return (_today() + timedelta(days=days)).isoformat()


class TestVendorLeads:
    @pytest.mark.parametrize("expires", ["1900-01-01", _days_from_today(-731), _days_from_today(5 * 365 + 1)])
    async def test_a_date_out_of_bounds_is_refused_by_name(
        self, client: AsyncClient, key: str, session: AsyncSession, expires: str
    ) -> None:
        answer = await client.post(LEADS, json=lead_payload(policy_expires_on=expires), headers={"X-API-Key": key})
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        assert error["field"] == "policy_expires_on"
        latest = (_today() + timedelta(days=5 * 365)).isoformat()
        assert f"should be from {(_today() - timedelta(days=730)).isoformat()} to {latest}" in error["reason"]
        assert await nothing_stored(session)

    @pytest.mark.parametrize("days", [-730, -10, 0, 20, 365, 5 * 365])
    async def test_a_lapsed_or_renewing_policy_is_taken(self, client: AsyncClient, key: str, days: int) -> None:
        payload = lead_payload(policy_expires_on=_days_from_today(days))
        answer = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert answer.status_code == 202, answer.text


class TestQuoteRequests:
    async def test_a_date_out_of_bounds_is_refused_by_name(self, client: AsyncClient, session: AsyncSession) -> None:
        answer = await client.post(
            QUOTES, json=quote_request_payload(policy_expires_on="2999-01-01"), headers=helpers.vouched_as_frontend()
        )
        assert answer.status_code == 422, answer.text
        assert [error["field"] for error in answer.json()["errors"]] == ["policy_expires_on"]
        assert await nothing_stored(session)
