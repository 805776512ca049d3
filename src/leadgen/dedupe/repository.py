"""The lock that makes the screenings of one person take turns."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The two-key form of PostgreSQL's advisory locks, whose keys never meet the one-key form's
# (migrate's 7245001, routing's 7245002): this number, then 32 bits of a phone or e-mail hash.
# https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
PERSON_LOCK_SPACE = 7245003
# One round trip for all of the person's keys, taken in the order of the array (unnest keeps it).
_PERSON_LOCKS = text(
    "SELECT pg_advisory_xact_lock(CAST(:space AS integer), key) FROM unnest(CAST(:keys AS integer[])) AS key"
)


def _lock_key(identity_hash: str) -> int:
    """A signed 32-bit key from the hash's hex digest; two people sharing one only wait for each other."""
    return int.from_bytes(bytes.fromhex(identity_hash[:8]), "big", signed=True)


async def hold_person(session: AsyncSession, identity_hashes: Iterable[str]) -> None:
    """Make every other screening of a lead with one of these phone or e-mail hashes wait until this
    transaction ends.

    Without it, two leads of a person screened at once on two workers may miss each other: the
    screening that began before the other lead was committed does not see it, and the other's,
    before the first commits, finds the first lead still waiting and received after its own, so
    neither lead is the other's duplicate. Keys are taken in order, so that no two screenings each
    hold one the other waits for. SQLite needs no lock: the pipeline's transaction holds its only
    write lock from its first statement (``core.db``).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({_lock_key(value) for value in identity_hashes})
    if keys:
        await session.execute(_PERSON_LOCKS, {"space": PERSON_LOCK_SPACE, "keys": keys})
