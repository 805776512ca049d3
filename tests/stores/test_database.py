"""What every PostgreSQL connection of the platform is set up with, and lists bound at execution."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.db import InList, after_commit, create_engine
from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime, name_task_runtime, task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.models import DoNotContact, OutboxEvent
from leadgen.outbox import repository as outbox
from leadgen.targets.registry import BROKER, DB

ASYNCPG = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


async def test_a_failed_statement_names_none_of_its_parameters(settings: Settings) -> None:
    """Its error is logged (uvicorn's, a task's): a lead's parameters are its name and address."""
    engine = create_engine(settings, "api")
    try:
        async with engine.connect() as conn:
            with pytest.raises(Exception) as failed:
                # No id: refused by the database, as a lead's insert is when a value is out of bounds.
                await conn.execute(text("INSERT INTO agents (name) VALUES (:name)"), {"name": "Zebulon Quackenbush"})
    finally:
        await engine.dispose()
    assert "Quackenbush" not in str(failed.value)
    assert "parameters hidden" in str(failed.value)


@pytest.mark.parametrize("backend", ["postgres"])
async def test_postgres_connections_name_the_process_bound_statements_and_plan_per_execution(
    settings: Settings, backend: str
) -> None:
    engine = create_engine(settings, "orchestrator")
    try:
        async with engine.connect() as conn:
            shown = {
                name: await conn.scalar(text(f"SHOW {name}"))
                for name in ("application_name", "statement_timeout", "plan_cache_mode")
            }
    finally:
        await engine.dispose()
    assert shown["application_name"] == f"{settings.common.environment.value}.orchestrator"
    assert shown["statement_timeout"] != "0"
    # A generic plan made while the tables were small is never reused once they have grown.
    assert shown["plan_cache_mode"] == "force_custom_plan"


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_named_task_runtime_names_its_connections(settings: Settings, backend: str) -> None:
    """The orchestrator process names its runtime so; its statements are not the notification worker's."""
    name_task_runtime("orchestrator")
    try:
        shown = task_runtime().in_transaction(lambda session: session.scalar(text("SHOW application_name")))
    finally:
        close_task_runtime()
        name_task_runtime("worker")
    assert shown == f"{settings.common.environment.value}.orchestrator"


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_transaction_postgres_aborts_to_end_a_deadlock_runs_again(settings: Settings, backend: str) -> None:
    """Two units of work lock two rows in opposite orders; PostgreSQL aborts one, which runs again."""
    runtime = task_runtime()
    try:
        runtime.run(_two_rows(runtime.resources))
        attempts: list[str] = []
        both_hold_one = asyncio.Barrier(2)

        def locking(first: str, second: str) -> Callable[[AsyncSession], Awaitable[str]]:
            async def work(session: AsyncSession) -> str:
                attempts.append(first)
                await session.execute(_LOCK, {"value": first})
                if len(attempts) <= 2:
                    await both_hold_one.wait()
                await session.execute(_LOCK, {"value": second})
                return first

            return work

        async def both() -> list[str]:
            return [
                *await asyncio.gather(
                    asyncio.to_thread(runtime.in_transaction, locking("a", "b")),
                    asyncio.to_thread(runtime.in_transaction, locking("b", "a")),
                )
            ]

        assert sorted(runtime.run(both())) == ["a", "b"]
        assert sorted(attempts) in (["a", "a", "b"], ["a", "b", "b"])  # one of the two ran twice
    finally:
        close_task_runtime()


_LOCK = text("SELECT value_hash FROM do_not_contact WHERE value_hash = :value FOR UPDATE")


async def _two_rows(resources: Resources) -> None:
    async with resources.unit_of_work() as session:
        session.add_all([DoNotContact(kind="phone", value_hash=v, reason="test") for v in ("a", "b")])


_LISTED = (
    select(DoNotContact.value_hash).where(InList(DoNotContact.value_hash, "hashes")).order_by(DoNotContact.value_hash)
)


async def test_a_list_bound_at_execution_matches_whatever_its_length(session: AsyncSession, backend: str) -> None:
    session.add_all(DoNotContact(value_hash=h, kind="phone", reason="asked") for h in ("a1", "b2", "c3"))
    await session.commit()
    for hashes, found in [
        ([], []),
        (["b2"], ["b2"]),
        (["c3", "zz", "a1"], ["a1", "c3"]),
        (["a1", "b2", "c3"], ["a1", "b2", "c3"]),
    ]:
        assert list(await session.scalars(_LISTED, {"hashes": hashes})) == found


def test_postgres_binds_one_array_and_sqlite_expands_the_list() -> None:
    assert "= ANY ($1::VARCHAR(64)[])" in str(_LISTED.compile(dialect=ASYNCPG))
    assert "IN (__[POSTCOMPILE_hashes])" in str(_LISTED.compile(dialect=sqlite.dialect()))


def test_the_column_table_is_in_the_from_clause_even_when_nothing_else_names_it() -> None:
    count = select(func.count()).where(InList(DoNotContact.value_hash, "hashes"))
    assert "FROM do_not_contact" in str(count.compile(dialect=ASYNCPG))


async def test_work_queued_for_after_the_commit_runs_only_when_the_unit_of_work_commits(resources: Resources) -> None:
    ran: list[str] = []
    async with resources.unit_of_work() as session:
        after_commit(session, lambda: ran.append("committed"))
    with pytest.raises(RuntimeError, match="boom"):
        async with resources.unit_of_work() as session:
            after_commit(session, lambda: ran.append("rolled back"))
            raise RuntimeError("boom")
    assert ran == ["committed"]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_unit_of_work_waits_only_briefly_for_a_broker_that_is_down(
    settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """Redis refuses connections: kombu takes seconds to give up on a publish. The unit of work
    (and so a request's answer) waits half a second per event; the outbox keeps the event."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens there once the probe is closed
    monkeypatch.setenv("LEADGEN_REDIS_URL", f"redis://127.0.0.1:{closed}/0")
    get_settings.cache_clear()
    resources = Resources.build(get_settings(), frozenset({DB, BROKER}), "test")
    try:
        started = time.monotonic()
        async with resources.unit_of_work() as session:
            outbox.add(session, "lead.received", str(uuid.uuid4()))
        waited = time.monotonic() - started
        async with resources.require_sessions()() as session:
            kept = await session.scalar(select(func.count()).select_from(OutboxEvent))
    finally:
        await resources.close()
    assert waited < 2.0 and kept == 1  # kombu alone takes about six seconds to give up


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_a_locking_read_takes_the_write_lock_and_a_plain_one_does_not(
    resources: Resources, backend: str
) -> None:
    """Where PostgreSQL would lock rows (FOR UPDATE), SQLite's one write lock is taken; a transaction
    that only reads, such as a request still checking its API key, holds up no writer."""

    async def listed(value: str) -> DoNotContact:
        return DoNotContact(kind="phone", value_hash=value, reason="asked")

    async def write_beside(value: str) -> None:
        async with resources.unit_of_work() as writer:
            writer.add(await listed(value))

    async with resources.unit_of_work() as reader:
        await reader.scalar(select(func.count()).select_from(DoNotContact))
        await asyncio.wait_for(write_beside("a1"), 5)  # not held up by the reader
    async with resources.unit_of_work() as locker:
        await locker.scalar(select(DoNotContact).where(DoNotContact.value_hash == "a1").with_for_update())
        waiting = asyncio.create_task(write_beside("b2"))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # the writer waits for the locking transaction to end
    await asyncio.wait_for(waiting, 5)  # and then goes ahead
