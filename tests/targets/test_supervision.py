"""A process whose task consumer stops while it runs fails its liveness probe and exits non-zero."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from leadgen.core import runtime, server
from leadgen.core.server import ProcessHost
from leadgen.core.settings import Settings
from leadgen.targets.registry import resolve
from tests.targets.processes import free_port


class StandInConsumer:
    """Stands in for the Celery worker of a ``worker`` process. One that ``gives_up`` returns from
    ``start`` while nobody asked it to stop, as Celery's does after an "Unrecoverable error"; the
    other consumes until stopped."""

    def __init__(self, gives_up: bool) -> None:
        self.gives_up = gives_up
        self.stopped = threading.Event()
        # Set by the test once it saw the process healthy: however long its start took, the consumer
        # gives up only after that.
        self.may_give_up = threading.Event()

    def start(self) -> None:
        if self.gives_up:
            self.may_give_up.wait(30)
        else:
            self.stopped.wait(30)

    def stop(self, in_sighandler: bool = False) -> None:
        self.stopped.set()


@pytest.fixture
async def port(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[int]:
    """The probe port of a worker process hosted by the test; its signal handlers go afterwards."""
    chosen = free_port()
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LEADGEN_HTTP_METRICS_PORT", str(chosen))
    monkeypatch.setenv("LEADGEN_HTTP_SHUTDOWN_DELAY_SECONDS", "2")
    yield chosen
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


def hosting(monkeypatch: pytest.MonkeyPatch, consumer: StandInConsumer) -> ProcessHost:
    monkeypatch.setattr(server, "_start_worker", lambda *args: consumer)
    # What the host sets for its task runtime is put back afterwards: no later test freezes pytest.
    monkeypatch.setattr(runtime, "_process_name", runtime._process_name)
    monkeypatch.setattr(runtime, "_freeze_when_built", False)
    return ProcessHost(Settings(), resolve("worker"))


async def test_a_consumer_that_stops_fails_liveness_and_the_process_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, port: int
) -> None:
    consumer = StandInConsumer(gives_up=True)
    host = hosting(monkeypatch, consumer)
    running = asyncio.ensure_future(host.run())
    answers: list[tuple[int, dict[str, str]]] = []
    deadline = time.monotonic() + 15
    try:
        async with httpx.AsyncClient() as client:
            while not any(status == 503 for status, _ in answers) and time.monotonic() < deadline:
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/healthz")
                    answers.append((response.status_code, response.json()))
                    consumer.may_give_up.set()
                except httpx.TransportError:
                    pass  # not listening yet, or no longer
                await asyncio.sleep(0.1)
    finally:
        exited_by_itself = running.done() or await _exits_within(running, 30)
        if not exited_by_itself:
            await host.shutdown()
            await running
    assert answers[0] == (200, {"status": "ok"})
    assert answers[-1] == (503, {"status": "failed", "reason": "celery-worker stopped"})
    assert exited_by_itself and host.exit_code == 1


async def _exits_within(running: asyncio.Future[None], seconds: float) -> bool:
    done, _ = await asyncio.wait({running}, timeout=seconds)
    return bool(done)


async def test_a_consumer_stopped_by_a_shutdown_is_no_failure(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    consumer = StandInConsumer(gives_up=False)
    host = hosting(monkeypatch, consumer)
    running = asyncio.ensure_future(host.run())
    await asyncio.sleep(1.0)
    await host.shutdown()
    await asyncio.wait_for(running, 30)
    assert consumer.stopped.is_set()
    assert (host.exit_code, host.health.failed) == (0, None)


async def test_a_served_process_freezes_what_it_built_once_up_and_once_its_task_runtime_is_built(
    monkeypatch: pytest.MonkeyPatch, port: int
) -> None:
    """The garbage collector's full passes then leave start-up's objects alone (a 110 ms stall of the
    orchestrator's leads in bench/pipeline): the process's once it serves, after collecting, and its
    task runtime's when the first task builds it, without a pause."""
    frozen: list[str] = []

    def freeze(*, collect: bool = True) -> None:
        frozen.append("collected and frozen" if collect else "frozen")

    monkeypatch.setattr(server, "freeze_start_up_objects", freeze)
    monkeypatch.setattr(runtime, "freeze_start_up_objects", freeze)
    host = hosting(monkeypatch, StandInConsumer(gives_up=False))
    running = asyncio.ensure_future(host.run())
    try:
        await asyncio.sleep(1.0)
        assert frozen == ["collected and frozen"]
        await asyncio.to_thread(runtime.task_runtime)  # as the first task does
        await asyncio.to_thread(runtime.task_runtime)
        assert frozen == ["collected and frozen", "frozen"]
    finally:
        await host.shutdown()
        await asyncio.wait_for(running, 30)
