"""Test sessions on one machine (two checkouts, xdist workers) never share an image tag, a
database or a Redis database: each holds a slot of its own (harness.take_slot)."""

from __future__ import annotations

import contextlib

import pytest

from tests.image import harness


def test_sessions_running_at_once_hold_different_slots() -> None:
    with harness.take_slot() as first, harness.take_slot() as second:
        assert first.number != second.number
        assert first.image_tag != second.image_tag
        assert first.database != second.database
        assert first.redis_url != second.redis_url


def test_while_every_slot_is_taken_a_session_waits_then_gives_up() -> None:
    taken: list[int] = []
    with contextlib.ExitStack() as stack, pytest.raises(harness.ImageError, match="stayed taken"):
        while True:
            taken.append(stack.enter_context(harness.take_slot(timeout=0)).number)
    assert taken and len(taken) == len(set(taken))
    assert set(taken) <= set(harness.SLOT_REDIS_DATABASES)
    with harness.take_slot(timeout=0) as again:  # released with the sessions that held them
        assert again.number in taken


def test_slots_leave_the_redis_databases_of_the_platform_and_the_main_suite_alone() -> None:
    assert set(harness.SLOT_REDIS_DATABASES).isdisjoint({0, 12, 13, 14, 15})
