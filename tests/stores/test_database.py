"""What every PostgreSQL connection of the platform is set up with."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from leadgen.core.db import create_engine
from leadgen.core.settings import Settings


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
