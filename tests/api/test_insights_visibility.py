"""What an agent reads of the notes reader's insight: the intent and urgency while the offer is open,
the words of the notes that decided them once they accept it (``leads.visibility.insights_for_agent``)."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.insights.schemas import FallbackReason, Insight, Intent, ProviderName, Urgency
from leadgen.leads.visibility import NOTES_REASON, insights_for_agent
from tests import helpers
from tests.conftest import lead_payload

# A driving record and a job loss, in the person's own words: what the notes reader quotes.
NOTES = "Needs an SR-22 filing after the DUI, lost my job last month, want to buy today"
QUOTED = ("sr-22", "want to buy", "today", "DUI")


def quotes_the_notes(seen: dict[str, Any]) -> bool:
    text = str(seen).lower()
    return any(words.lower() in text for words in QUOTED)


async def test_an_agent_reads_the_notes_reasons_once_they_accept(
    client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    agent = await helpers.agent(session, ["TX"])
    user = await helpers.user(session, Role.AGENT, agent.id)
    admin = await helpers.user(session, Role.ADMIN)
    key = await helpers.api_key(session)
    await session.commit()
    lead = await helpers.submitted_and_processed(client, resources, key, lead_payload(notes=NOTES))
    as_agent, as_staff = await helpers.bearer(client, user), await helpers.bearer(client, admin)

    whole = (await client.get(f"/api/v1/leads/{lead}", headers=as_staff)).json()["insights"]
    assert (whole["intent"], whole["urgency"]) == ("buy_now", "high")
    assert quotes_the_notes(whole)

    pending = (await client.get(f"/api/v1/leads/{lead}", headers=as_agent)).json()
    assert pending["assignment"]["status"] == "PENDING"
    assert pending["insights"] == {
        "intent": "buy_now",
        "urgency": "high",
        "provider": whole["provider"],
        "model": whole["model"],
        "fallback_reason": None,
        "evidence": [],
        "reason": NOTES_REASON,
    }
    assert not quotes_the_notes(pending)

    accepted = await client.post(f"/api/v1/assignments/{pending['assignment']['id']}/accept", headers=as_agent)
    assert accepted.status_code == 200, accepted.text
    working = (await client.get(f"/api/v1/leads/{lead}", headers=as_agent)).json()
    assert working["insights"] == whole


def test_a_providers_reason_waits_for_the_acceptance_too() -> None:
    """An LLM's reason is free text about the notes, whatever it says."""
    answered = Insight(
        intent=Intent.COMPARING,
        urgency=Urgency.MEDIUM,
        provider=ProviderName.OPENAI,
        model="gpt-4o-mini",
        reason="Shopping around after a DUI raised the renewal.",
        fallback_reason=None,
    ).model_dump(mode="json")
    for offer_status in ("PENDING", "RETURNED"):
        shown = insights_for_agent(answered, offer_status)
        assert shown == {**answered, "reason": NOTES_REASON, "evidence": []}
    assert insights_for_agent(answered, "ACCEPTED") == answered


def test_only_the_fields_known_to_quote_nothing_are_shown() -> None:
    """A field added to the insight later stays hidden until it is judged; an erased person's lead
    (labels only) and a lead the notes reader never read are shown as they are."""
    stored = {
        "intent": "buy_now",
        "urgency": "high",
        "provider": "local",
        "model": "keyword-rules-1",
        "fallback_reason": FallbackReason.TIMEOUT.value,
        "evidence": ["'sr-22' -> intent buy_now + urgency high"],
        "reason": "buy_now from 'sr-22'",
        "quoted_phrases": ["sr-22"],
    }
    assert "quoted_phrases" not in (insights_for_agent(stored, "PENDING") or {})
    erased = {"intent": "buy_now", "urgency": "high"}
    assert insights_for_agent(erased, "PENDING") == erased
    assert insights_for_agent(None, "PENDING") is None
