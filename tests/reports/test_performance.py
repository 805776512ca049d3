"""The performance, return and funnel reports over a small book whose every figure is worked out by hand."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.compliance.rules import IMPORTED_LIST, OPTED_OUT_EVENT
from leadgen.core.errors import InvalidInput
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, LeadEvent, Source
from leadgen.models.base import utcnow
from leadgen.reports.rules import Performance, period
from leadgen.targets import api, data_service
from tests import helpers
from tests.conftest import started

NOW = utcnow()


@pytest.fixture
async def data_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(data_service.create_app(settings)):
        yield c


@pytest.fixture
async def headers(settings: Settings, session: AsyncSession) -> dict[Role, dict[str, str]]:
    """The Authorization header of an admin, a manager and an agent."""
    agent = await helpers.agent(session, ["TX"], name="Signed-in Agent")
    emails = {role: await helpers.user(session, role, agent.id if role == Role.AGENT else None) for role in Role}
    await session.commit()
    async for client in started(api.create_app(settings)):
        return {role: await helpers.bearer(client, email) for role, email in emails.items()}
    raise AssertionError("the api did not start")


class Book:
    """Two sources, two agents and eleven leads, four of which the default period leaves out.

    Offers go out every 15 minutes; an agent who takes one answers 5 minutes after it went out."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def build(self) -> None:
        s = self.session
        vendor_a = Source(name="vendor-a", cost_per_lead_cents=2500)
        vendor_b = Source(name="vendor-b", cost_per_lead_cents=1000)
        s.add_all([vendor_a, vendor_b])
        ana = await helpers.agent(s, ["TX"], name="Ana")
        ben = await helpers.agent(s, ["TX"], name="Ben")
        await s.flush()
        timed_out, accepted, returned = AssignmentStatus.TIMED_OUT, AssignmentStatus.ACCEPTED, AssignmentStatus.RETURNED
        add = self.lead
        # Ben let it time out; Ana took it at +20, reached the person at +30 and sold a policy. The
        # agency's own list, imported later, names the person: no opt-out of the source's doing.
        await add(
            vendor_a,
            "spring",
            LeadStatus.CONVERTED,
            [(ben, timed_out), (ana, accepted)],
            contacted_after=30,
            opted_out=(IMPORTED_LIST,),
        )
        # The person asked Ana to stop calling after the first contact.
        await add(vendor_a, None, LeadStatus.CONTACTED, [(ana, accepted)], contacted_after=45, opted_out=("agent",))
        await add(vendor_a, None, LeadStatus.RETURNED, [(ben, returned)], returns=["wrong_number"])
        # Shared: both took it at +5, Ben reached the person at +25.
        await add(
            vendor_a,
            "spring",
            LeadStatus.CONTACTED,
            [(ana, accepted), (ben, accepted)],
            shared=True,
            contacted_after=25,
            contacted_by=ben,
        )
        await add(vendor_b, None, LeadStatus.DUPLICATE, [])
        # Opted out by text and again by e-mail: one lead all the same.
        await add(
            vendor_b,
            None,
            LeadStatus.UNASSIGNED,
            [(ben, timed_out), (ana, timed_out)],
            opted_out=("sms-reply", "email-link"),
        )
        await add(vendor_b, None, LeadStatus.RECEIVED, [])  # not screened yet: not paid for yet
        await add(vendor_b, None, LeadStatus.CONVERTED, [(ana, accepted)], contacted_after=10, is_test=True)
        await add(vendor_a, "winter", LeadStatus.CONVERTED, [(ana, accepted)], contacted_after=60, days_ago=40)
        await add(vendor_b, None, LeadStatus.RETURNED, [(ben, returned)], days_ago=90, returns=["not_interested"])
        await add(vendor_b, None, LeadStatus.RETURNED, [(ana, returned)], days_ago=90, returns=["duplicate"])
        await s.commit()

    async def lead(
        self,
        source: Source,
        campaign: str | None,
        status: LeadStatus,
        offers: list[tuple[Agent, AssignmentStatus]],
        *,
        shared: bool = False,
        contacted_after: int | None = None,
        contacted_by: Agent | None = None,
        is_test: bool = False,
        days_ago: int = 2,
        returns: list[str] | None = None,
        opted_out: tuple[str, ...] = (),
    ) -> None:
        """A lead bought at its source's price, with its offers (one round each, or one round for
        all when shared), and when an agent who took it (``contacted_by``, else the last) first
        reached the person."""
        received_at = NOW - timedelta(days=days_ago)
        lead = Lead(
            id=uuid.uuid4(),
            source_id=source.id,
            price_cents=source.cost_per_lead_cents,  # as intake records it
            campaign=campaign,
            line="auto",
            origin="api",
            state="TX",
            zip_code="75201",
            status=status,
            is_test=is_test,
            received_at=received_at,
        )
        self.session.add(lead)
        await self.session.flush()  # the offers and events refer to it
        returns = list(returns or [])
        for index, (agent, outcome) in enumerate(offers):
            attempt, slot = (1, index) if shared else (index + 1, 0)
            offered_at = received_at + timedelta(minutes=15 * (attempt - 1))
            taken = outcome in (AssignmentStatus.ACCEPTED, AssignmentStatus.RETURNED)
            self.session.add(
                Assignment(
                    lead_id=lead.id,
                    agent_id=agent.id,
                    attempt=attempt,
                    slot=slot,
                    strategy="round_robin",
                    status=outcome,
                    expires_at=offered_at + timedelta(minutes=15),
                    responded_at=offered_at + timedelta(minutes=5) if taken else None,
                    reason=returns.pop(0) if outcome == AssignmentStatus.RETURNED else None,
                )
            )
        agent_id = {"agent_id": str((contacted_by or offers[-1][0]).id)} if offers else {}
        if contacted_after is not None:
            at = received_at + timedelta(minutes=contacted_after)
            self.session.add(LeadEvent(lead_id=lead.id, name="lead.contacted", data=agent_id, created_at=at))
            # A second contact later on does not move the first.
            later = at + timedelta(hours=3)
            self.session.add(LeadEvent(lead_id=lead.id, name="lead.contacted", data=agent_id, created_at=later))
        if status == LeadStatus.CONVERTED:
            self.session.add(LeadEvent(lead_id=lead.id, name="lead.converted", data=agent_id))
        for via in opted_out:
            self.session.add(LeadEvent(lead_id=lead.id, name=OPTED_OUT_EVENT, data={"via": via}))


@pytest.fixture
async def book(session: AsyncSession) -> Book:
    made = Book(session)
    await made.build()
    return made


async def report(client: AsyncClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/reports/performance", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return [row for row in answer.json()["rows"] if row["key"] != "Signed-in Agent"]


async def test_by_source_counts_what_became_of_each_sources_leads_and_what_they_cost(
    book: Book, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    rows = await report(data_client, headers[Role.MANAGER])
    assert rows == [
        {
            "key": "vendor-a",
            "agent_id": None,
            "leads": 4,
            "screened_out": 0,
            "unassigned": 0,
            "opted_out": 1,
            "opt_out_rate": 0.25,
            "accepted": 4,
            "contacted": 3,
            "converted": 1,
            "returned": 1,
            "sla_breaches": 1,
            "contact_rate": 0.75,
            "conversion_rate": 0.25,
            "return_rate": 0.25,
            "median_minutes_to_first_contact": 30.0,  # of 30, 45 and 25, from each lead's arrival
            "billed": 3,  # the returned lead is credited
            "spend_cents": 7500,
            "cost_per_lead_cents": 2500,
            "cost_per_conversion_cents": 7500,
        },
        {
            "key": "vendor-b",
            "agent_id": None,
            "leads": 3,
            "screened_out": 1,
            "unassigned": 1,
            "opted_out": 1,
            "opt_out_rate": 0.3333,
            "accepted": 0,
            "contacted": 0,
            "converted": 0,
            "returned": 0,
            "sla_breaches": 2,
            "contact_rate": None,
            "conversion_rate": None,
            "return_rate": None,
            "median_minutes_to_first_contact": None,
            "billed": 1,  # bought, though nobody could take it; not the duplicate nor the one not screened yet
            "spend_cents": 1000,
            "cost_per_lead_cents": 1000,
            "cost_per_conversion_cents": None,
        },
    ]


async def test_an_offer_left_past_its_deadline_is_a_breach_however_it_ended(
    session: AsyncSession, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    """Withdrawn after its deadline (the agent deactivated before the sweep came by), or still pending
    past it: each a breach. Withdrawn before its deadline: none."""
    made = Book(session)
    source = Source(name="vendor-c", cost_per_lead_cents=0)
    session.add(source)
    late = await helpers.agent(session, ["TX"], name="Late")
    in_time = await helpers.agent(session, ["TX"], name="In Time")
    await session.flush()
    withdrawn = AssignmentStatus.WITHDRAWN
    await made.lead(source, None, LeadStatus.UNASSIGNED, [(late, withdrawn), (in_time, withdrawn)])
    await made.lead(source, None, LeadStatus.ROUTED, [(late, AssignmentStatus.PENDING)])
    await session.flush()
    for offer in await session.scalars(select(Assignment)):
        # Withdrawn ten minutes after the deadline for Late, ten minutes before it for In Time.
        offer.responded_at = offer.expires_at + timedelta(minutes=10 if offer.agent_id == late.id else -10)
        if offer.status == AssignmentStatus.PENDING:
            offer.responded_at = None
    await session.commit()
    rows = {row["key"]: row for row in await report(data_client, headers[Role.ADMIN], by="agent")}
    assert (rows["Late"]["sla_breaches"], rows["In Time"]["sla_breaches"]) == (2, 0)
    [by_source] = await report(data_client, headers[Role.ADMIN])
    assert by_source["sla_breaches"] == 2


async def test_by_agent_counts_each_agents_own_offers(
    book: Book, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    rows = {row["key"]: row for row in await report(data_client, headers[Role.ADMIN], by="agent")}
    assert set(rows) == {"Ana", "Ben"}
    figures = ("leads", "accepted", "contacted", "converted", "returned", "sla_breaches", "billed", "spend_cents")
    # Ana: three leads kept, one of them shared (half its cost); her contacts 10 and 40 minutes
    # after she took the lead. Ben: the shared lead's contact is his, 20 minutes after.
    assert [rows["Ana"][f] for f in figures] == [4, 3, 2, 1, 0, 1, 3, 6250]
    assert [rows["Ben"][f] for f in figures] == [4, 2, 1, 0, 1, 2, 1, 1250]
    assert rows["Ana"]["median_minutes_to_first_contact"] == 25.0
    assert rows["Ben"]["median_minutes_to_first_contact"] == 20.0
    assert rows["Ana"]["screened_out"] is None and rows["Ana"]["unassigned"] is None
    assert rows["Ana"]["opted_out"] is None and rows["Ana"]["opt_out_rate"] is None
    assert rows["Ben"]["cost_per_lead_cents"] == 1250 and rows["Ben"]["return_rate"] == 0.5
    assert uuid.UUID(rows["Ana"]["agent_id"]) != uuid.UUID(rows["Ben"]["agent_id"])


async def test_by_agent_counts_only_what_an_agent_who_took_the_lead_recorded(
    session: AsyncSession, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    """A contact and a conversion recorded under an agent whose offer timed out, or a contact under
    no agent at all, are the lead's (the report by source counts them) but no agent's."""
    made = Book(session)
    source = Source(name="vendor-c", cost_per_lead_cents=0)
    session.add(source)
    ana = await helpers.agent(session, ["TX"], name="Ana")
    ben = await helpers.agent(session, ["TX"], name="Ben")
    await session.flush()
    offers = [(ben, AssignmentStatus.TIMED_OUT), (ana, AssignmentStatus.ACCEPTED)]
    await made.lead(source, None, LeadStatus.CONVERTED, offers, contacted_after=30, contacted_by=ben)
    await made.lead(source, None, LeadStatus.CONTACTED, [], contacted_after=30)
    await session.commit()
    rows = {row["key"]: row for row in await report(data_client, headers[Role.ADMIN], by="agent")}
    figures = ("accepted", "contacted", "converted")
    assert {name: [rows[name][f] for f in figures] for name in ("Ana", "Ben")} == {"Ana": [1, 0, 0], "Ben": [0, 0, 0]}
    [by_source] = await report(data_client, headers[Role.ADMIN])
    assert [by_source[f] for f in ("contacted", "converted")] == [2, 1]


async def test_a_new_price_leaves_what_the_leads_bought_before_it_cost(
    book: Book, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    """vendor-a's leads were bought at $25.00 and vendor-b's at $10.00, whatever they charge now."""
    before = {by: await report(data_client, headers[Role.ADMIN], by=by) for by in ("source", "agent")}
    for name, cents in (("vendor-a", 4000), ("vendor-b", 0)):
        changed = await data_client.patch(
            f"/api/v1/sources/{name}", json={"price_cents": cents}, headers=headers[Role.ADMIN]
        )
        assert changed.status_code == 200, changed.text
    after = {by: await report(data_client, headers[Role.ADMIN], by=by) for by in ("source", "agent")}
    assert after == before
    assert [(row["spend_cents"], row["cost_per_lead_cents"]) for row in after["source"]] == [(7500, 2500), (1000, 1000)]
    assert [row["spend_cents"] for row in after["agent"]] == [6250, 1250]


async def test_by_campaign_and_line_and_a_longer_period(
    book: Book, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    by_campaign = await report(data_client, headers[Role.ADMIN], by="campaign")
    campaigns = {row["key"]: (row["leads"], row["median_minutes_to_first_contact"]) for row in by_campaign}
    assert campaigns == {None: (5, 45.0), "spring": (2, 27.5)}
    lines = await report(data_client, headers[Role.ADMIN], by="line")
    assert [(row["key"], row["leads"], row["converted"]) for row in lines] == [("auto", 7, 1)]
    since = (NOW - timedelta(days=60)).isoformat()
    longer = {row["key"]: row for row in await report(data_client, headers[Role.ADMIN], by="campaign", since=since)}
    assert longer["winter"]["leads"] == 1 and longer["winter"]["median_minutes_to_first_contact"] == 60.0
    until = (NOW - timedelta(days=30)).isoformat()
    assert [row["key"] for row in await report(data_client, headers[Role.ADMIN], since=since, until=until)] == [
        "vendor-a"
    ]


async def test_no_campaign_is_a_null_key_that_no_campaigns_name_is_mistaken_for(
    session: AsyncSession, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    made = Book(session)
    source = Source(name="vendor-c", cost_per_lead_cents=0)
    session.add(source)
    await session.flush()
    for campaign in (None, "", "(none)", "spring"):  # "": as intake stored a blank campaign before
        await made.lead(source, campaign, LeadStatus.UNASSIGNED, [])
    await session.commit()
    rows = await report(data_client, headers[Role.ADMIN], by="campaign")
    assert [(row["key"], row["leads"]) for row in rows] == [(None, 2), ("(none)", 1), ("spring", 1)]


async def test_a_shared_leads_price_is_split_in_cents_that_add_up_to_it(
    session: AsyncSession, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    """$10.00 between three agents: the one offered it first pays the cent left over."""
    made = Book(session)
    source = Source(name="vendor-c", cost_per_lead_cents=1000)
    session.add(source)
    takers = [await helpers.agent(session, ["TX"], name=name) for name in ("Cy", "Ada", "Bo")]
    await session.flush()
    offers = [(agent, AssignmentStatus.ACCEPTED) for agent in takers]
    await made.lead(source, None, LeadStatus.ACCEPTED, offers, shared=True)
    await session.commit()
    by_agent = {row["key"]: row["spend_cents"] for row in await report(data_client, headers[Role.ADMIN], by="agent")}
    assert by_agent == {"Cy": 334, "Ada": 333, "Bo": 333}
    [by_source] = await report(data_client, headers[Role.ADMIN])
    assert sum(by_agent.values()) == by_source["spend_cents"] == 1000


async def test_the_funnel_counts_every_live_lead_by_source_line_and_status(
    book: Book, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    """Over all time, like the return rates; vendor-b's converted test lead is left out, as in the
    other reports."""
    answer = await data_client.get("/api/v1/reports/funnel", headers=headers[Role.MANAGER])
    assert answer.status_code == 200, answer.text
    assert [(row["source"], row["line"], row["status"], row["leads"]) for row in answer.json()] == [
        ("vendor-a", "auto", "CONTACTED", 2),
        ("vendor-a", "auto", "CONVERTED", 2),
        ("vendor-a", "auto", "RETURNED", 1),
        ("vendor-b", "auto", "DUPLICATE", 1),
        ("vendor-b", "auto", "RECEIVED", 1),
        ("vendor-b", "auto", "RETURNED", 2),
        ("vendor-b", "auto", "UNASSIGNED", 1),
    ]


async def return_rates(data_client: AsyncClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = await data_client.get("/api/v1/reports/returns", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


async def test_return_rates_name_the_reason_given_most_often(
    book: Book, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    since = (NOW - timedelta(days=120)).isoformat()
    assert await return_rates(data_client, headers[Role.MANAGER], since=since) == [
        {
            "source": "vendor-a",
            "leads_accepted": 5,
            "leads_credited": 1,
            "return_rate": 0.2,
            "offers_accepted": 6,  # the shared lead's two
            "offers_returned": 1,
            "top_reason": "wrong_number",
        },
        # As often as each other: the first in alphabetical order.
        {
            "source": "vendor-b",
            "leads_accepted": 2,
            "leads_credited": 2,
            "return_rate": 1.0,
            "offers_accepted": 2,
            "offers_returned": 2,
            "top_reason": "duplicate",
        },
    ]


async def test_return_rates_count_the_returns_of_the_periods_leads(
    book: Book, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    """A source's credits for a month are the returns of that month's leads, whenever returned."""
    admin = headers[Role.ADMIN]
    figures = ("source", "leads_accepted", "leads_credited", "return_rate", "offers_accepted")
    counts = [tuple(r[f] for f in figures) for r in await return_rates(data_client, admin)]
    # The last 30 days unless asked: vendor-b's two returned leads are older, its offers since timed
    # out, and a rate of no lead taken is none.
    assert counts == [("vendor-a", 4, 1, 0.25, 5), ("vendor-b", 0, 0, None, 0)]
    since, until = (NOW - timedelta(days=60)).isoformat(), (NOW - timedelta(days=30)).isoformat()
    older = await return_rates(data_client, admin, since=since, until=until)
    assert older == [
        {
            "source": "vendor-a",
            "leads_accepted": 1,
            "leads_credited": 0,
            "return_rate": 0.0,
            "offers_accepted": 1,
            "offers_returned": 0,
            "top_reason": None,
        }
    ]
    refused = await data_client.get("/api/v1/reports/returns", params={"since": "2024-01-01T00:00:00Z"}, headers=admin)
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["query.since"]


async def test_return_rates_credit_a_shared_lead_once_and_only_when_every_taker_returned_it(
    session: AsyncSession, data_client: AsyncClient, headers: dict[Role, dict[str, str]]
) -> None:
    """vendor-c's shared lead was returned by both its agents: one lead credited, not two. vendor-d's
    was returned by one and kept by the other: its source is paid for it, so none is credited, though
    an offer was returned. The rate is of leads, as the performance report's by source."""
    made = Book(session)
    vendor_c, vendor_d = (
        Source(name="vendor-c", cost_per_lead_cents=1000),
        Source(name="vendor-d", cost_per_lead_cents=1000),
    )
    session.add_all([vendor_c, vendor_d])
    ana = await helpers.agent(session, ["TX"], name="Ana")
    ben = await helpers.agent(session, ["TX"], name="Ben")
    await session.flush()
    accepted, returned = AssignmentStatus.ACCEPTED, AssignmentStatus.RETURNED
    both_returned = [(ana, returned), (ben, returned)]
    await made.lead(vendor_c, None, LeadStatus.RETURNED, both_returned, shared=True, returns=["fraud", "wrong_number"])
    one_kept = [(ana, returned), (ben, accepted)]
    await made.lead(vendor_d, None, LeadStatus.ACCEPTED, one_kept, shared=True, returns=["wrong_number"])
    await session.commit()
    admin = headers[Role.ADMIN]
    assert await return_rates(data_client, admin) == [
        {
            "source": "vendor-c",
            "leads_accepted": 1,
            "leads_credited": 1,
            "return_rate": 1.0,
            "offers_accepted": 2,
            "offers_returned": 2,
            "top_reason": "fraud",  # as often as wrong_number: the first in alphabetical order
        },
        {
            "source": "vendor-d",
            "leads_accepted": 1,
            "leads_credited": 0,
            "return_rate": 0.0,
            "offers_accepted": 2,
            "offers_returned": 1,
            "top_reason": "wrong_number",
        },
    ]
    by_source = [
        (row["key"], row["accepted"], row["returned"], row["billed"]) for row in await report(data_client, admin)
    ]
    assert by_source == [("vendor-c", 1, 1, 0), ("vendor-d", 1, 0, 1)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "county"}, "by"),
        ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "since"),
        ({"since": "2024-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}, "since"),
        ({"since": "2026-06-01T00:00:00"}, "since"),  # no time zone: ambiguous
        ({"until": "0001-01-05T00:00:00Z"}, "until"),  # 30 days before it is no date at all
        ({"since": "9999-12-01T00:00:00Z", "until": "9999-12-31T20:00:00-05:00"}, "since"),  # UTC: year 10000
    ],
)
async def test_a_bad_question_is_refused_with_the_field(
    data_client: AsyncClient, headers: dict[Role, dict[str, str]], params: dict[str, str], field: str
) -> None:
    answer = await data_client.get("/api/v1/reports/performance", params=params, headers=headers[Role.ADMIN])
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["errors"]] == [f"query.{field}"]


async def test_only_staff_may_read_it(data_client: AsyncClient, headers: dict[Role, dict[str, str]]) -> None:
    assert (await data_client.get("/api/v1/reports/performance", headers=headers[Role.AGENT])).status_code == 403
    assert (await data_client.get("/api/v1/reports/performance")).status_code == 401


def test_rates_and_costs_of_a_group_with_nothing_accepted_are_left_empty() -> None:
    quiet = Performance(
        "x", 4, accepted=0, contacted=0, converted=0, returned=0, sla_breaches=0, billed=0, spend_cents=0
    )
    row = quiet.as_row()
    assert row["conversion_rate"] is None and row["cost_per_lead_cents"] is None
    assert row["median_minutes_to_first_contact"] is None


def test_the_period_is_the_last_30_days_unless_given() -> None:
    start, end = period(None, None, NOW)
    assert end == NOW and end - start == timedelta(days=30)
    assert period(None, NOW - timedelta(days=1), NOW)[0] == NOW - timedelta(days=31)
    with pytest.raises(InvalidInput, match="the period must start before it ends"):
        period(NOW, NOW, NOW)


def test_366_days_of_the_agencys_calendar_are_taken_across_a_clock_change() -> None:
    """The dashboard's midnights in Chicago from 1 November 2025 (summer time) to 2 November 2026
    (winter time) are 366 days and an hour apart: the days asked for, not an hour too many."""
    # As the dashboard sends them: each midnight with its own offset (CDT, then CST).
    since = datetime(2025, 11, 1, tzinfo=timezone(timedelta(hours=-5)))
    until = datetime(2026, 11, 2, tzinfo=timezone(timedelta(hours=-6)))
    assert until - since == timedelta(days=366, hours=1)
    assert period(since, until, NOW) == (since, until)
    for longer in (until + timedelta(seconds=1), until + timedelta(days=1)):
        with pytest.raises(InvalidInput, match="at most 366 days"):
            period(since, longer, NOW)
    with pytest.raises(InvalidInput, match="at most 366 days"):
        period(since.astimezone(UTC), since.astimezone(UTC) + timedelta(days=366, hours=1), NOW)
