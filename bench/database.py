"""The database a bench fills: dropped, created and migrated afresh, and named to this process's
settings so that the platform's own code reads it."""

from __future__ import annotations

import asyncio
import os

from tests.targets.processes import fresh_database, migrate


def migrated_database(name: str) -> None:
    """Recreate ``name`` on the machine's PostgreSQL, migrate it with ``leadgen db upgrade``, and
    point this process's settings (``LEADGEN_DB_URL``) at it."""
    os.environ["LEADGEN_DB_URL"] = f"postgresql://postgres@127.0.0.1/{name}"
    os.environ.setdefault("LEADGEN_LOG_LEVEL", "WARNING")
    asyncio.run(fresh_database(name))
    migrate(dict(os.environ))
