"""Passwords are hashed and verified in worker threads: sign-ins at argon2's production cost leave the
api's event loop serving everything else, and no more hashes run at once than there are threads."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from httpx import AsyncClient

from leadgen.auth import service
from leadgen.core import security

SIGN_INS = 6


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Overrides tests/conftest.py's: argon2 at its production cost, the dummy hash of unknown
    e-mail addresses made with it (and made again at the suite's cost by the tests after these)."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher())
    service._dummy_hash.cache_clear()
    yield
    service._dummy_hash.cache_clear()


async def _failed_sign_ins(client: AsyncClient) -> set[int]:
    async def sign_in(n: int) -> int:
        form = {"username": f"nobody{n}@example.com", "password": "not-the-password-123"}
        return (await client.post("/api/v1/auth/token", data=form)).status_code

    return set(await asyncio.gather(*(sign_in(n) for n in range(SIGN_INS))))


async def test_sign_ins_leave_the_event_loop_serving(client: AsyncClient) -> None:
    started = time.perf_counter()
    security.hash_password("one hash, timed on this machine")
    one_hash = time.perf_counter() - started
    # A full collection of the suite's heap pauses the loop ~0.2 s too, whenever it comes.
    gc.disable()
    try:
        signing_in = asyncio.ensure_future(_failed_sign_ins(client))
        # A task that wants to run every 5 ms: how late it runs is how long any other request waits.
        worst_lag = 0.0
        while not signing_in.done():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, time.perf_counter() - before - 0.005)
    finally:
        gc.enable()
    assert await signing_in == {401}
    # On the loop, every hash held it for a whole hash's time.
    assert worst_lag < one_hash / 2, f"the loop stalled {worst_lag * 1000:.0f} ms; a hash takes {one_hash * 1000:.0f}"


async def test_hashes_run_in_the_hashing_threads_only(client: AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each argon2 hash takes 64 MiB: sign-ins at once must not multiply that without bound."""
    loop_thread = threading.get_ident()
    counting = threading.Lock()
    running, most, on_the_loop = 0, 0, 0

    def slow_verify(password_hash: str, password: str) -> bool:
        nonlocal running, most, on_the_loop
        with counting:
            running += 1
            most = max(most, running)
            on_the_loop += threading.get_ident() == loop_thread
        time.sleep(0.02)
        with counting:
            running -= 1
        return False

    monkeypatch.setattr(service, "verify_password", slow_verify)
    assert await _failed_sign_ins(client) == {401}
    assert on_the_loop == 0
    assert most == service.PASSWORD_HASHING_THREADS


async def test_a_burst_beyond_the_hashing_queue_is_told_to_retry_before_any_password_is_checked(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request waiting for a hash holds its database connection: past the queue's bound, a
    sign-in is a 503 with Retry-After before any password is checked."""
    checked = 0

    def slow_verify(password_hash: str, password: str) -> bool:
        nonlocal checked
        checked += 1
        time.sleep(0.05)
        return False

    monkeypatch.setattr(service, "verify_password", slow_verify)
    monkeypatch.setattr(service, "PASSWORD_HASHING_QUEUE", 2)
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/auth/token", data={"username": f"nobody{n}@example.com", "password": "x" * 12})
            for n in range(SIGN_INS)
        )
    )
    busy = [answer for answer in answers if answer.status_code == 503]
    assert {answer.status_code for answer in answers} == {401, 503} and checked == SIGN_INS - len(busy)
    assert all(answer.headers["Retry-After"] == "2" for answer in busy)
    assert service._hashing_queue.waiting == 0
