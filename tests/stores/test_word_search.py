"""Word search over hundreds of leads, through the real vector store (Qdrant local mode): a word in
one lead's notes finds that lead, whatever words the other leads' lines, states and sources hash to.

Word search once compared a notes-only query with each lead's whole 128-float vector, where a note
word shares its slot with the structured features: a word that landed on the slot of ``line=auto``
ranked the auto leads first, and the one lead whose notes held it could fall out of the top 10."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leadgen.scoring.synthetic import generate
from leadgen.stores.embedding import embed_lead, query_words, word_key
from leadgen.stores.vectors.qdrant_store import QdrantVectorStore

# The word slots' key (the platform derives its own of LEADGEN_SECURITY_PII_HASH_KEY).
WORD_KEY = word_key("test-pii-hash-key")

LEADS = 600
# Words of ordinary notes, which many leads share.
_COMMON_TEXT = (
    "wants quote call evening soon price coverage please morning weekend cheaper current carrier switch "
    "compare options family policy renew shopping lower payment monthly annual discount agent back today"
)
COMMON = _COMMON_TEXT.split()
# Each in the notes of exactly one lead, never among the common words.
_RARE_TEXT = (
    "renewal divorce premium bundle teenager accident ticket roof hail flood wildfire mortgage closing lender "
    "baby marriage retirement pension business contractor liability workers umbrella motorcycle boat landlord "
    "tenant condo jewelry collector vineyard tractor snowmobile sailboat bakery daycare orchard veterinary "
    "locksmith greenhouse"
)
RARE = _RARE_TEXT.split()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[QdrantVectorStore]:
    opened = QdrantVectorStore.open_local(tmp_path / "qdrant", "leads")
    await opened.ensure_collection()
    yield opened
    await opened.close()


def _leads() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Generated leads (every line, state, source and campaign) with ordinary notes, and for each
    rare word the one lead whose notes also hold it."""
    rows = generate(LEADS, 11).rows
    rng = random.Random(5)
    for row in rows:
        row["notes"] = " ".join(rng.sample(COMMON, rng.randint(3, 12)))
    holders = dict(zip(RARE, rng.sample(range(LEADS), len(RARE)), strict=True))
    for word, index in holders.items():
        rows[index]["notes"] += f" {word}"
    return rows, holders


async def test_each_word_finds_the_one_lead_whose_notes_hold_it_in_the_top_ten(store: QdrantVectorStore) -> None:
    assert not set(COMMON) & set(RARE)
    rows, holders = _leads()
    ids = [uuid.uuid4() for _ in rows]
    await store.upsert_many(
        [
            (lead_id, embed_lead(row, WORD_KEY), {"line": row["line"], "state": row["state"]})
            for lead_id, row in zip(ids, rows, strict=True)
        ]
    )
    missed: dict[str, list[uuid.UUID]] = {}
    for word, index in holders.items():
        # As GET /api/v1/search asks by default: 10 hits.
        found = [hit.lead_id for hit in await store.matching_words(query_words(word, WORD_KEY), limit=10)]
        if ids[index] not in found:
            missed[word] = found
        else:
            assert found == [ids[index]], word  # and no lead whose notes do not hold it
    assert missed == {}, f"{len(missed)} of {len(holders)} words miss their lead"
