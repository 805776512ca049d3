"""The retention purge on both databases: people inactive past ``LEADGEN_PRIVACY_RETENTION_DAYS``
are anonymised as an erasure does, by the hourly task or ``leadgen privacy purge``; people with
any activity since are not."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from typer.testing import CliRunner, Result

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal, Role
from leadgen.cli.main import app
from leadgen.compliance import repository as dnc
from leadgen.compliance.links import opt_out_token
from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.leads import outcomes
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment, AuditEntry, Base, ConsentRecord, DoNotContact, Lead, LeadEvent, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.privacy import repository, tasks
from leadgen.privacy import service as privacy
from leadgen.privacy.rules import retention_cutoff
from leadgen.routing import service as routing
from leadgen.stores.broker import create_celery
from tests import helpers
from tests.conftest import lead_payload
from tests.pipeline.test_phone_extensions import colleague

RETENTION_DAYS = 1828
PAST_RETENTION = timedelta(days=RETENTION_DAYS + 30)
_numbers = itertools.count(1000)
# The times of what a lead did: each model, its lead and its times.
AGED: list[tuple[type[Base], InstrumentedAttribute[uuid.UUID], tuple[str, ...]]] = [
    (Lead, Lead.id, ("received_at", "created_at")),
    (LeadEvent, LeadEvent.lead_id, ("created_at",)),
    (ConsentRecord, ConsentRecord.lead_id, ("created_at", "captured_at")),
    (Assignment, Assignment.lead_id, ("created_at", "expires_at", "responded_at", "outcome_at", "closed_at")),
]


@pytest.fixture
def retention(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The purge on, for the task runtime (built on the task's first call) and the CLI; closed after."""
    monkeypatch.setenv("LEADGEN_PRIVACY_RETENTION_DAYS", str(RETENTION_DAYS))
    get_settings.cache_clear()
    yield
    close_task_runtime()


def person() -> dict[str, Any]:
    """A contact of their own: nobody else's lead shares the phone or the e-mail address."""
    number = next(_numbers)
    return {
        "first_name": "Robin",
        "last_name": "Quill",
        "email": f"robin{number}@example.com",
        "phone": f"512-555-{number:04d}",
        "address": {"street": "12 Oak Street", "city": "Austin", "zip": "78701"},
    }


async def lead_of(client: AsyncClient, resources: Resources, key: str, contact: dict[str, Any]) -> uuid.UUID:
    """The person's lead through intake and the pipeline (UNASSIGNED unless an agent is licensed in Texas)."""
    return await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=contact))


async def age(resources: Resources, lead_ids: list[uuid.UUID], by: timedelta = PAST_RETENTION) -> None:
    """Move everything the leads did, and their consent, back in time."""
    async with resources.unit_of_work() as s:
        for model, of_lead, names in AGED:
            for row in await s.scalars(select(model).where(of_lead.in_(lead_ids))):
                for name in names:
                    if (value := getattr(row, name)) is not None:
                        setattr(row, name, value - by)


async def oldest_first(resources: Resources, lead_ids: list[uuid.UUID]) -> None:
    """Age the leads past the retention, a day apart, the first the oldest."""
    for days, lead_id in enumerate(reversed(lead_ids)):
        await age(resources, [lead_id], PAST_RETENTION + timedelta(days=days))


async def asked_again(resources: Resources, lead_ids: list[uuid.UUID]) -> None:
    """The people behind the leads asked for a quote again just now: active, so kept."""
    async with resources.unit_of_work() as s:
        for lead_id in lead_ids:
            audit.lead_event(s, lead_id, "lead.requested_again")


async def lead(session: AsyncSession, lead_id: uuid.UUID) -> Lead:
    found = await session.scalar(select(Lead).where(Lead.id == lead_id).execution_options(populate_existing=True))
    assert found is not None
    return found


async def anonymised(session: AsyncSession, lead_ids: list[uuid.UUID]) -> list[bool]:
    return [(await lead(session, lead_id)).anonymised_at is not None for lead_id in lead_ids]


async def counts(session: AsyncSession) -> dict[str, int]:
    """Rows that any change of a lead adds to."""
    models = {"events": LeadEvent, "audit": AuditEntry, "outbox": OutboxEvent, "do_not_contact": DoNotContact}
    return {name: await session.scalar(select(func.count()).select_from(model)) or 0 for name, model in models.items()}


def purge_task() -> int:
    people: int = tasks.purge_inactive_people()
    return people


async def cli(*args: str) -> Result:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(CliRunner().invoke, app, ["privacy", "purge", *args])


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.usefixtures("retention")
class TestPurge:
    async def test_a_person_inactive_past_retention_is_anonymised_with_every_lead_and_stays_contactable(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        gone = person()
        # The same person from another phone: one person, by the e-mail address.
        leads = [
            await lead_of(client, resources, key, gone),
            await lead_of(client, resources, key, gone | {"phone": person()["phone"]}),
        ]
        await age(resources, leads)
        recent = await lead_of(client, resources, key, person())
        people, lead_count = (
            metric("leadgen_retention_people_anonymised_total"),
            metric("leadgen_retention_leads_anonymised_total"),
        )

        assert purge_task() == 1

        assert await anonymised(session, [*leads, recent]) == [True, True, False]
        for lead_id in leads:
            erased = await lead(session, lead_id)
            assert (erased.email, erased.phone, erased.first_name, erased.street, erased.phone_hash) == (None,) * 5
            assert (erased.status, erased.line, erased.state) == (LeadStatus.UNASSIGNED, "auto", "TX")  # for reports
            consent = await session.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead_id))
            # Over five years old: its evidence and the vendor's wording went at once.
            assert consent is not None and consent.text is None and consent.ip_address is None
            events = await session.scalars(
                select(LeadEvent.data).where(LeadEvent.lead_id == lead_id, LeadEvent.name == "lead.anonymised")
            )
            assert list(events) == [{"reason": "retention"}]
        forgotten = await session.scalars(select(OutboxEvent.key).where(OutboxEvent.topic == "lead.erased"))
        assert sorted(forgotten) == sorted(str(lead_id) for lead_id in leads)  # the vectors and graph go too
        # Nobody asked to stop: their next request for a quote is theirs to make.
        assert (await counts(session))["do_not_contact"] == 0
        [entry] = await session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purged"))
        assert (entry.actor, entry.subject_id) == ("retention", None)
        assert entry.data == {"people": 1, "leads": 2, "failed": 0, "retention_days": RETENTION_DAYS}
        assert metric("leadgen_retention_people_anonymised_total") == people + 1
        assert metric("leadgen_retention_leads_anonymised_total") == lead_count + 2

    async def test_the_unsubscribe_link_of_a_purged_lead_says_nothing_is_held_and_lists_nobody(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        purged = await lead_of(client, resources, key, person())
        await age(resources, [purged])
        assert purge_task() == 1
        token = opt_out_token(settings.security.pii_hash_key.get_secret_value(), purged)
        answer = await client.post(f"/api/v1/opt-outs/email/{token}")
        assert answer.status_code == 410 and "retention policy" in answer.json()["detail"]
        assert (await counts(session))["do_not_contact"] == 0

    async def test_a_second_run_changes_nothing(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        await age(resources, [await lead_of(client, resources, key, person())])
        assert purge_task() == 1
        before = await counts(session)
        assert purge_task() == 0
        assert await counts(session) == before

    async def test_any_lead_of_the_person_received_since_keeps_them_all(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        returning = person()
        old = await lead_of(client, resources, key, returning)
        await age(resources, [old])
        # Asked again last year from the same phone, with another e-mail address.
        again = await lead_of(client, resources, key, returning | {"email": person()["email"]})
        await age(resources, [again], timedelta(days=365))
        assert purge_task() == 0
        assert await anonymised(session, [old, again]) == [False, False]

    async def test_a_person_found_due_who_asks_again_before_their_turn_is_left(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        returning = person()
        old = await lead_of(client, resources, key, returning)
        await age(resources, [old])
        cutoff = retention_cutoff(utcnow(), RETENTION_DAYS)
        async with resources.unit_of_work() as s:
            found = await repository.candidates(s, cutoff, tasks.WINDOW)
            assert found == [repository.Candidate((await lead(s, old)).received_at, old, due=True)]
        again = await lead_of(client, resources, key, returning)
        async with resources.unit_of_work() as s:
            assert await privacy.purge_person(s, old, cutoff) == []  # decided again under the leads' locks
        assert await anonymised(session, [old, again]) == [False, False]

    async def test_an_outcome_recorded_lately_on_an_old_lead_keeps_the_person(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        await helpers.agent(session, ["TX"])
        await session.commit()
        worked, idle = await lead_of(client, resources, key, person()), await lead_of(client, resources, key, person())
        for lead_id in (worked, idle):
            agent = await self._accept(resources, session, lead_id)
            await age(resources, [lead_id])
            async with resources.unit_of_work() as s:
                await outcomes.record_outcome(s, agent, lead_id, LeadStatus.LOST, None)
        await age(resources, [idle])  # its loss long ago too
        assert purge_task() == 1
        assert await anonymised(session, [worked, idle]) == [False, True]

    async def test_a_lead_an_agent_holds_keeps_its_person_only_while_something_is_recorded_of_it(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        """Whatever its status: an accepted lead nobody recorded anything of for the whole retention
        is abandoned, and an offer left pending that long (the sweep was off) goes with its person."""
        await helpers.agent(session, ["TX"])
        await session.commit()
        offered, abandoned, worked = [await lead_of(client, resources, key, person()) for _ in range(3)]
        agents = {lead_id: await self._accept(resources, session, lead_id) for lead_id in (abandoned, worked)}
        await age(resources, [offered, abandoned, worked])
        async with resources.unit_of_work() as s:  # the agent called the person today
            await outcomes.record_outcome(s, agents[worked], worked, LeadStatus.CONTACTED, None)

        assert purge_task() == 2
        assert await anonymised(session, [offered, abandoned, worked]) == [True, True, False]
        offers = await session.scalars(select(Assignment.status).where(Assignment.lead_id == offered))
        assert list(offers) == [AssignmentStatus.WITHDRAWN]
        assert [(await lead(session, lead_id)).status for lead_id in (offered, abandoned)] == [
            LeadStatus.UNASSIGNED,
            LeadStatus.ACCEPTED,  # the agent sees it anonymised, and may still record what became of it
        ]

    async def test_people_on_the_do_not_contact_list_stay_on_it_and_the_erased_are_skipped(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        listed, erased = person(), person()
        leads = [await lead_of(client, resources, key, listed), await lead_of(client, resources, key, erased)]
        hash_key = settings.security.pii_hash_key.get_secret_value()
        async with resources.unit_of_work() as s:
            await dnc.add_many(s, privacy.person_hashes(hash_key, listed["email"], listed["phone"]), "old CRM")
            await privacy.erase(s, privacy.person_hashes(hash_key, erased["email"], None), "admin")
        await age(resources, leads)
        entries_before = [(e.value_hash, e.reason) for e in await session.scalars(select(DoNotContact))]
        assert purge_task() == 1  # the listed person; the erased one was already
        assert await anonymised(session, leads) == [True, True]
        assert sorted((e.value_hash, e.reason) for e in await session.scalars(select(DoNotContact))) == sorted(
            entries_before
        )
        events = await session.scalars(
            select(LeadEvent.data).where(LeadEvent.lead_id == leads[1], LeadEvent.name == "lead.anonymised")
        )
        assert list(events) == [{"reason": "erasure request"}]

    async def test_a_run_takes_a_batch_oldest_first_and_people_not_due_hold_back_nobody(
        self,
        client: AsyncClient,
        resources: Resources,
        session: AsyncSession,
        key: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(tasks, "BATCH", 2)
        # The oldest two people came back lately; three more are due, oldest first.
        held = [await lead_of(client, resources, key, person()) for _ in range(2)]
        due = [await lead_of(client, resources, key, person()) for _ in range(3)]
        await oldest_first(resources, [*held, *due])
        for lead_id in held:
            await lead_of(client, resources, key, person() | {"email": (await lead(session, lead_id)).email})
        assert purge_task() == 2
        assert await anonymised(session, [*held, *due]) == [False, False, True, True, False]
        assert purge_task() == 1
        assert await anonymised(session, due) == [True, True, True]

    @pytest.mark.parametrize(
        ("extension", "kept"), [("202", False), (None, True)], ids=["another extension", "the main number"]
    )
    async def test_a_colleague_active_at_the_switchboard_keeps_the_person_only_by_the_main_number(
        self,
        client: AsyncClient,
        resources: Resources,
        session: AsyncSession,
        key: str,
        extension: str | None,
        kept: bool,
    ) -> None:
        """A person is whom ``dedupe.rules.same_person`` finds: a lead from the number with another
        extension is a colleague's; one given with the main number may be the person's."""
        ana = await helpers.submitted_and_processed(client, resources, key, colleague("Ana", "101"))
        await age(resources, [ana])
        other = await helpers.submitted_and_processed(client, resources, key, colleague("Bob", extension))
        cutoff = retention_cutoff(utcnow(), RETENTION_DAYS)
        async with resources.unit_of_work() as s:
            found = await repository.candidates(s, cutoff, tasks.WINDOW)
            assert found == [repository.Candidate((await lead(s, ana)).received_at, ana, due=not kept)]
            assert [purged.id for purged in await privacy.purge_person(s, ana, cutoff, dry_run=True)] == (
                [] if kept else [ana]
            )
        assert purge_task() == (0 if kept else 1)
        assert await anonymised(session, [ana, other]) == [not kept, False]

    async def _accept(self, resources: Resources, session: AsyncSession, lead_id: uuid.UUID) -> Principal:
        [offer] = await session.scalars(select(Assignment).where(Assignment.lead_id == lead_id))
        agent = Principal(uuid.uuid4(), Role.AGENT, offer.agent_id)
        async with resources.unit_of_work() as s:
            await routing.accept(s, agent, offer.id)
        return agent


@pytest.mark.usefixtures("retention")
class TestProgress:
    """An hourly run reads a bounded stretch of the leads, a window at a time, and the next goes on
    after it: people kept, or whose purge fails, are not read again every hour, nor hold back anyone."""

    async def test_a_person_whose_purge_fails_is_counted_and_holds_back_nobody_behind_them(
        self,
        client: AsyncClient,
        resources: Resources,
        session: AsyncSession,
        key: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(tasks, "BATCH", 1)
        failing, behind, last = [await lead_of(client, resources, key, person()) for _ in range(3)]
        await oldest_first(resources, [failing, behind, last])
        purge_person = privacy.purge_person

        async def fails_for_one(s: AsyncSession, lead_id: uuid.UUID, cutoff: datetime, dry_run: bool) -> list[Lead]:
            if lead_id == failing:
                raise RuntimeError("the person's transaction failed")
            return await purge_person(s, lead_id, cutoff, dry_run)

        monkeypatch.setattr(privacy, "purge_person", fails_for_one)
        failed_runs = {"task": "privacy.purge", "outcome": "error"}
        errors = metric("leadgen_tasks_total", failed_runs)

        assert purge_task() == 0  # the run's one try, failed
        assert metric("leadgen_tasks_total", failed_runs) == errors + 1
        assert purge_task() == 1  # the next goes on after them
        assert await anonymised(session, [failing, behind, last]) == [False, True, False]

        answer = await cli()
        assert answer.exit_code == 1
        assert "anonymised 1 people (1 leads)" in answer.stdout
        assert "1 people failed" in answer.stderr
        assert await anonymised(session, [failing, behind, last]) == [False, True, True]
        entries = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.purged").order_by(AuditEntry.created_at)
        )
        assert [(e.actor, e.data["people"], e.data["leads"], e.data["failed"]) for e in entries] == [
            ("retention", 0, 0, 1),
            ("retention", 1, 1, 0),
            ("cli", 1, 1, 1),
        ]

    async def test_a_run_reads_at_most_its_windows_and_the_next_goes_on_after_them(
        self,
        client: AsyncClient,
        resources: Resources,
        session: AsyncSession,
        key: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(tasks, "WINDOW", 2)
        monkeypatch.setattr(tasks, "WINDOWS", 2)
        kept = [await lead_of(client, resources, key, person()) for _ in range(5)]
        due = await lead_of(client, resources, key, person())
        await oldest_first(resources, [*kept, due])
        await asked_again(resources, kept)
        windows: list[list[uuid.UUID]] = []
        candidates = repository.candidates

        async def read(*args: Any, **kwargs: Any) -> list[repository.Candidate]:
            found = await candidates(*args, **kwargs)
            windows.append([candidate.id for candidate in found])
            return found

        monkeypatch.setattr(repository, "candidates", read)

        assert purge_task() == 0
        assert windows == [kept[:2], kept[2:4]]
        assert purge_task() == 1
        assert windows[2:] == [[kept[4], due], []]  # after the four read, to the end
        assert await anonymised(session, [*kept, due]) == [False] * 5 + [True]
        assert purge_task() == 0
        assert windows[4:] == [kept[:2], kept[2:4]]  # from the oldest again

    async def test_past_the_newest_lead_the_next_run_starts_from_the_oldest_again(
        self,
        client: AsyncClient,
        resources: Resources,
        session: AsyncSession,
        key: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(tasks, "WINDOW", 2)
        monkeypatch.setattr(tasks, "WINDOWS", 1)
        leads = [await lead_of(client, resources, key, person()) for _ in range(3)]  # the oldest kept
        await oldest_first(resources, leads)
        await asked_again(resources, leads[:1])
        assert purge_task() == 1
        assert await anonymised(session, leads) == [False, True, False]
        await age(resources, leads[:1])  # asked again so long ago that they are due now, behind the run's place
        assert purge_task() == 1
        assert await anonymised(session, leads) == [False, True, True]
        assert purge_task() == 1
        assert await anonymised(session, leads) == [True, True, True]


class TestOff:
    @pytest.mark.usefixtures("worker")
    async def test_nothing_is_purged_by_default(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        lead_id = await lead_of(client, resources, key, person())
        await age(resources, [lead_id], timedelta(days=36500))
        before = await counts(session)
        assert purge_task() == 0
        assert await anonymised(session, [lead_id]) == [False]
        assert await counts(session) == before

    async def test_the_command_says_the_purge_is_off(self, settings_env: dict[str, str]) -> None:
        answer = await cli("--dry-run")
        assert answer.exit_code == 2
        assert "LEADGEN_PRIVACY_RETENTION_DAYS is 0" in answer.stderr


@pytest.mark.usefixtures("retention")
class TestCommand:
    async def test_a_dry_run_counts_people_and_leads_without_a_trace_then_a_run_purges_them_all(
        self,
        client: AsyncClient,
        resources: Resources,
        session: AsyncSession,
        key: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(tasks, "WINDOW", 2)  # the command goes on past one window
        first, second = person(), person()
        leads = [
            await lead_of(client, resources, key, first),
            await lead_of(client, resources, key, first),
            await lead_of(client, resources, key, second),
        ]
        await age(resources, leads)
        before = await counts(session)

        preview = await cli("--dry-run")
        assert preview.exit_code == 0, preview.output
        assert "would anonymise 2 people (3 leads)" in preview.stdout
        assert all(part not in preview.output for part in (first["email"], "Robin", "555"))  # counts only
        as_json = await cli("--dry-run", "--json")
        assert json.loads(as_json.stdout) == {"people": 2, "leads": 3, "failed": 0}
        assert await counts(session) == before
        assert await anonymised(session, leads) == [False, False, False]

        run = await cli()
        assert run.exit_code == 0, run.output
        assert "anonymised 2 people (3 leads)" in run.stdout
        assert await anonymised(session, leads) == [True, True, True]
        [entry] = await session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purged"))
        assert (entry.actor, entry.data["people"], entry.data["leads"]) == ("cli", 2, 3)


def test_every_process_running_the_scheduler_sends_the_purge_hourly_to_the_workers() -> None:
    """``leadgen up`` and the scheduler pod run beat over the same app; the worker registers the task."""
    celery = create_celery(Settings())
    purge = {"task": "privacy.purge", "schedule": 3600.0, "options": {"expires": 3600.0}}
    assert purge in celery.conf.beat_schedule.values()
    celery.loader.import_default_modules()
    assert "privacy.purge" in celery.tasks
