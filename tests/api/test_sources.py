"""Lead sources and their prices: admins read and set them (data-service, and `leadgen sources`),
intake records the price on each lead it receives, and the reports spend what leads were bought at."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from leadgen.auth.roles import Role
from leadgen.cli.main import app
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.models import AuditEntry, Lead, Source, User
from tests import helpers
from tests.api.test_quote_requests import QUOTES, quote_request_payload
from tests.conftest import lead_payload

VENDOR = "acme-leads"


@dataclass
class World:
    """A vendor with a key not used yet, and an admin, a manager and an agent signed in."""

    key: str
    headers: dict[Role, dict[str, str]]


@pytest.fixture
async def world(client: AsyncClient, session: AsyncSession) -> World:
    # Licensed in California only: the Texan leads of these tests find nobody and end UNASSIGNED,
    # bought all the same.
    agent = await helpers.agent(session, ["CA"])
    emails = {role: await helpers.user(session, role, agent.id if role == Role.AGENT else None) for role in Role}
    key = await helpers.api_key(session, VENDOR)
    await session.commit()
    return World(key, {role: await helpers.bearer(client, email) for role, email in emails.items()})


async def change(
    data_client: AsyncClient, world: World, body: dict[str, Any], name: str = VENDOR, role: Role = Role.ADMIN
) -> Response:
    return await data_client.patch(f"/api/v1/sources/{name}", json=body, headers=world.headers[role])


async def sources(data_client: AsyncClient, world: World) -> list[dict[str, Any]]:
    answer = await data_client.get("/api/v1/sources", headers=world.headers[Role.MANAGER])
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def prices(session: AsyncSession, lead_ids: list[uuid.UUID]) -> list[int]:
    query = select(Lead.id, Lead.price_cents).where(Lead.id.in_(lead_ids))
    price_of = {lead_id: price for lead_id, price in await session.execute(query)}
    return [price_of[lead_id] for lead_id in lead_ids]


async def source_id(session: AsyncSession, name: str = VENDOR) -> str:
    """The source's id as the API shows it: what a routing policy names it by."""
    return str(await session.scalar(select(Source.id).where(Source.name == name)))


async def audited(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    query = select(AuditEntry).where(AuditEntry.action == "source.updated").order_by(AuditEntry.created_at)
    return [(entry.actor, entry.data) for entry in await session.scalars(query)]


class TestPricesOfLeads:
    async def test_a_new_price_prices_the_leads_received_after_it_and_leaves_the_spend_of_earlier_ones(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession, resources: Resources
    ) -> None:
        assert (await change(data_client, world, {"price_cents": 2000})).status_code == 200
        bought = [await helpers.submitted_and_processed(client, resources, world.key, lead_payload()) for _ in range(2)]
        assert (await change(data_client, world, {"price_cents": 3500})).status_code == 200
        bought.append(await helpers.submitted_and_processed(client, resources, world.key, lead_payload()))
        assert await prices(session, bought) == [2000, 2000, 3500]
        answer = await data_client.get("/api/v1/reports/performance", headers=world.headers[Role.MANAGER])
        [row] = answer.json()["rows"]
        assert (row["key"], row["unassigned"], row["billed"]) == (VENDOR, 3, 3)
        assert (row["spend_cents"], row["cost_per_lead_cents"]) == (7500, 2500)

    async def test_the_quote_forms_source_is_priced_from_its_first_lead_on(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        """The quote form's source appears with its first lead, priced 0; from then on admins price it."""
        first = await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend())
        assert (await change(data_client, world, {"price_cents": 500}, name="web-form")).status_code == 200
        later = await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend())
        assert await prices(session, [uuid.UUID(first.json()["id"]), uuid.UUID(later.json()["id"])]) == [0, 500]


class TestList:
    async def test_staff_read_each_source_with_its_price_and_its_live_leads(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        await helpers.api_key(session, "quiet-vendor")
        await session.commit()
        for payload in (lead_payload(), lead_payload(test=True)):  # a test lead is not counted
            assert (await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": world.key})).is_success
        vendor, quiet = await source_id(session), await source_id(session, "quiet-vendor")
        assert await sources(data_client, world) == [
            {"id": vendor, "name": VENDOR, "kind": "vendor", "active": True, "price_cents": 0, "leads_received": 1},
            {
                "id": quiet,
                "name": "quiet-vendor",
                "kind": "vendor",
                "active": True,
                "price_cents": 0,
                "leads_received": 0,
            },
        ]

    async def test_agents_may_not_read_them(self, data_client: AsyncClient, world: World) -> None:
        assert (await data_client.get("/api/v1/sources", headers=world.headers[Role.AGENT])).status_code == 403
        assert (await data_client.get("/api/v1/sources")).status_code == 401


class TestChange:
    async def test_an_admin_sets_the_price_and_switches_the_keys_off_and_each_change_is_audited(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        priced = await change(data_client, world, {"price_cents": 1500})
        assert priced.status_code == 200, priced.text
        assert priced.json() == {
            "id": await source_id(session),
            "name": VENDOR,
            "kind": "vendor",
            "active": True,
            "price_cents": 1500,
            "leads_received": 0,
        }
        assert (await change(data_client, world, {"price_cents": 1500, "active": True})).status_code == 200
        switched_off = await change(data_client, world, {"active": False, "price_cents": 100_000})
        assert switched_off.json() == priced.json() | {"active": False, "price_cents": 100_000}
        refused = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": world.key})
        assert refused.status_code == 401
        # The same values again changed nothing and are not in the log.
        [(actor, first), (_, second)] = await audited(session)
        assert actor.startswith("user:")
        assert first == {"price_cents": [0, 1500]}
        assert second == {"price_cents": [1500, 100_000], "active": [True, False]}
        assert await sources(data_client, world) == [switched_off.json()]

    async def test_managers_and_agents_may_not_change_a_source(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        for role in (Role.MANAGER, Role.AGENT):
            assert (await change(data_client, world, {"price_cents": 1}, role=role)).status_code == 403
        assert (await data_client.patch(f"/api/v1/sources/{VENDOR}", json={"price_cents": 1})).status_code == 401
        assert (await sources(data_client, world))[0]["price_cents"] == 0
        assert await audited(session) == []

    async def test_an_unknown_source_is_404(self, data_client: AsyncClient, world: World) -> None:
        answer = await change(data_client, world, {"price_cents": 1}, name="no-such-vendor")
        assert answer.status_code == 404
        assert answer.json()["detail"] == "source no-such-vendor not found"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"price_cents": -1}, "price_cents"),
            ({"price_cents": 100_001}, "price_cents"),
            ({"price_cents": 12.5}, "price_cents"),
            ({"price_cents": "1500"}, "price_cents"),  # a number, not text
            ({"price_cents": True}, "price_cents"),
            ({"price_cents": None}, "price_cents"),  # leaving it out keeps it
            ({"active": None}, "active"),
            ({"cost_per_lead_cents": 1500}, "cost_per_lead_cents"),
        ],
    )
    async def test_a_bad_field_is_422_with_the_field_and_changes_nothing(
        self, data_client: AsyncClient, world: World, session: AsyncSession, body: dict[str, Any], field: str
    ) -> None:
        answer = await change(data_client, world, {"active": False} | body)
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        assert error["field"] == field and error["reason"]
        [source] = await sources(data_client, world)
        assert (source["price_cents"], source["active"]) == (0, True)
        assert await audited(session) == []


class TestKeys:
    async def test_an_admin_revokes_a_leaked_key_and_the_sources_other_key_keeps_working(
        self, client: AsyncClient, data_client: AsyncClient, session: AsyncSession, world: World
    ) -> None:
        replacement = await helpers.api_key(session, VENDOR)
        await session.commit()
        admin = world.headers[Role.ADMIN]
        listed = (await data_client.get(f"/api/v1/sources/{VENDOR}/keys", headers=admin)).json()
        leaked = world.key.split("_")[1]
        assert sorted(key["prefix"] for key in listed) == sorted([leaked, replacement.split("_")[1]])
        assert [key["revoked_at"] for key in listed] == [None, None]

        revoked = await data_client.post(f"/api/v1/sources/{VENDOR}/keys/{leaked}/revoke", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        again = await data_client.post(f"/api/v1/sources/{VENDOR}/keys/{leaked}/revoke", headers=admin)
        assert again.json() == revoked.json()  # changes nothing, audited once
        refused = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": world.key})
        assert refused.status_code == 401
        taken = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": replacement})
        assert taken.status_code == 202, taken.text
        entries = await session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key.revoked"))
        [entry] = entries
        assert entry.actor.startswith("user:") and entry.data == {"prefix": leaked}

    async def test_only_admins_see_and_revoke_keys_and_an_unknown_key_is_404(
        self, data_client: AsyncClient, world: World
    ) -> None:
        prefix = world.key.split("_")[1]
        for role in (Role.MANAGER, Role.AGENT):
            assert (
                await data_client.get(f"/api/v1/sources/{VENDOR}/keys", headers=world.headers[role])
            ).status_code == 403
            path = f"/api/v1/sources/{VENDOR}/keys/{prefix}/revoke"
            assert (await data_client.post(path, headers=world.headers[role])).status_code == 403
        admin = world.headers[Role.ADMIN]
        for path in (f"/api/v1/sources/{VENDOR}/keys/00000000/revoke", f"/api/v1/sources/nobody/keys/{prefix}/revoke"):
            assert (await data_client.post(path, headers=admin)).status_code == 404


def _sources_command(*args: str) -> Any:
    return CliRunner().invoke(app, ["sources", *args])


async def _audited_in(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    engine = create_engine(settings, "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await audited(session)
    finally:
        await engine.dispose()


def test_the_sources_commands(settings_env: dict[str, str]) -> None:
    assert CliRunner().invoke(app, ["api-keys", "create", VENDOR]).exit_code == 0
    priced = _sources_command("set-price", VENDOR, "1500", "--json")
    assert priced.exit_code == 0, priced.output
    shown = json.loads(priced.stdout)
    expected = {"name": VENDOR, "kind": "vendor", "active": True, "price_cents": 1500, "leads_received": 0}
    assert shown == expected | {"id": str(uuid.UUID(shown["id"]))}
    expected["id"] = shown["id"]
    repriced = _sources_command("set-price", VENDOR, "2000")
    assert f"{VENDOR}: $20.00 per lead from now on" in repriced.stdout
    assert json.loads(_sources_command("list", "--json").stdout) == [expected | {"price_cents": 2000}]
    listed = _sources_command("list")
    assert listed.exit_code == 0 and VENDOR in listed.stdout and "$20.00" in listed.stdout
    assert asyncio.run(_audited_in(get_settings())) == [
        ("cli", {"price_cents": [0, 1500]}),
        ("cli", {"price_cents": [1500, 2000]}),
    ]


def test_the_price_command_refuses_an_unknown_source_and_a_price_out_of_bounds(settings_env: dict[str, str]) -> None:
    unknown = _sources_command("set-price", "no-such-vendor", "100")
    assert unknown.exit_code == 1 and "source no-such-vendor not found" in unknown.stderr
    for cents in ("100001", "-- -1"):
        refused = _sources_command("set-price", VENDOR, *cents.split())
        assert refused.exit_code == 2, refused.output
        assert "a price per lead is 0 to 100000 cents ($1,000.00)" in refused.stderr
    in_dollars = _sources_command("set-price", VENDOR, "15.00")  # typer alone would read 15 cents
    assert in_dollars.exit_code == 2 and "a whole number of cents" in in_dollars.stderr


def test_the_key_commands(settings_env: dict[str, str]) -> None:
    created = CliRunner().invoke(app, ["api-keys", "create", VENDOR, "--json"])
    prefix = json.loads(created.stdout)["api_key"].split("_")[1]
    [listed] = json.loads(CliRunner().invoke(app, ["api-keys", "list", VENDOR, "--json"]).stdout)
    assert (listed["prefix"], listed["revoked_at"]) == (prefix, None)
    revoked = CliRunner().invoke(app, ["api-keys", "revoke", VENDOR, prefix])
    assert revoked.exit_code == 0 and f"API key {prefix} of {VENDOR} revoked" in revoked.stdout
    table = CliRunner().invoke(app, ["api-keys", "list", VENDOR])
    assert prefix in table.stdout and "works" not in table.stdout
    unknown = CliRunner().invoke(app, ["api-keys", "revoke", VENDOR, "00000000"])
    assert unknown.exit_code == 1 and f"source {VENDOR} has no API key 00000000" in unknown.stderr


def test_names_are_printed_as_written_not_as_markup(settings_env: dict[str, str]) -> None:
    created = CliRunner().invoke(app, ["api-keys", "create", "acme[beta]"])
    assert created.exit_code == 0 and "API key for acme[beta] (shown once)" in created.stdout
    assert "acme[beta]" in _sources_command("list").stdout
    unknown = _sources_command("set-price", "[/x]", "100")
    assert unknown.exit_code == 1 and "source [/x] not found" in unknown.stderr


def test_a_sources_kind_is_one_of_the_kinds_and_set_once(settings_env: dict[str, str]) -> None:
    assert CliRunner().invoke(app, ["api-keys", "create", "referrals", "--kind", "partner"]).exit_code == 0
    assert [s["kind"] for s in json.loads(_sources_command("list", "--json").stdout)] == ["partner"]
    changed = CliRunner().invoke(app, ["api-keys", "create", "referrals", "--kind", "web"])
    assert changed.exit_code == 1 and "source referrals is a partner source, not web" in changed.stderr
    assert CliRunner().invoke(app, ["api-keys", "create", "referrals"]).exit_code == 0  # another key, same kind
    bogus = CliRunner().invoke(app, ["api-keys", "create", "other", "--kind", "bogus"])
    assert bogus.exit_code == 2 and json.loads(_sources_command("list", "--json").stdout)[0]["name"] == "referrals"


def test_each_demo_start_keeps_the_demo_key_while_it_works(settings_env: dict[str, str]) -> None:
    from leadgen.cli.serve import _load_demo

    settings = get_settings()
    key_file = settings.common.data_dir / "demo-api-key"
    _load_demo(settings)
    first = key_file.read_text()
    _load_demo(settings)
    assert key_file.read_text() == first
    prefix = first.split("_")[1]
    assert CliRunner().invoke(app, ["api-keys", "revoke", "acme-leads", prefix]).exit_code == 0
    _load_demo(settings)  # the kept key no longer works: a new one
    assert key_file.read_text() != first
    keys = json.loads(CliRunner().invoke(app, ["api-keys", "list", "acme-leads", "--json"]).stdout)
    assert [key["revoked_at"] is None for key in keys] == [True, False]


def test_the_demo_book_is_refused_outside_development(
    settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its users sign in with the password the README publishes."""
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "staging")
    get_settings.cache_clear()
    refused = CliRunner().invoke(app, ["demo", "load"])
    assert refused.exit_code == 2, refused.output
    assert "the demo book is for development only" in refused.stderr
    assert asyncio.run(_users_in(get_settings())) == 0


async def _users_in(settings: Settings) -> int:
    engine = create_engine(settings, "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return len((await session.scalars(select(User))).all())
    finally:
        await engine.dispose()
