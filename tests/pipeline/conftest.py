"""What the pipeline tests share: an agent licensed in Texas (the api and a key: tests/conftest.py),
and a scoring model file that breaks while the worker runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.runtime import task_runtime
from leadgen.models import Agent
from leadgen.scoring import model
from tests import helpers


@pytest.fixture
async def texas_agent(session: AsyncSession) -> Agent:
    """One agent licensed for auto in Texas, on shift around the clock, committed."""
    agent = await helpers.agent(session, ["TX"])
    await session.commit()
    return agent


@pytest.fixture
def break_model(worker: None, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Breaks the scoring model file under a running worker: its runtime started with the model,
    then the process lost it and must read the file again. Every pipeline built since fails."""
    packaged = model.DEFAULT_PATH

    def breaks() -> None:
        task_runtime()
        broken = tmp_path / "lead-score-v1.json"
        broken.write_text('{"format": 1, "model": "lead-score-v1", "coeff')
        model.DEFAULT_PATH = broken
        model.default_model.cache_clear()

    yield breaks
    model.DEFAULT_PATH = packaged
    model.default_model.cache_clear()
