"""Time the offline lead embedder (budget: under 5 ms per lead) and, optionally, Qdrant local mode.

    .venv/bin/python bench/embedding/run.py                 # 5,000 leads, embed only
    .venv/bin/python bench/embedding/run.py --leads 20000 --qdrant 5000

Leads are synthetic but shaped like real ones: every line with its details, and free-text notes of
0-80 words (the longest inputs the embedder sees; the API caps notes at 2,000 characters). Each call
is timed on its own with ``perf_counter_ns`` (wall) and ``thread_time_ns`` (CPU time of this thread:
on a busy machine the wall p99 also counts time spent waiting for a core). The first calls run with
an empty feature-hash cache.
``--qdrant N`` also stores N embedded leads in qdrant-client's local mode (a temporary folder) and
times upsert, ``similar`` and ``agent_success`` over them - the calls the pipeline makes per lead -
and ``matching_words``, word search's, for one word of the notes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from leadgen.stores.embedding import EMBEDDING_DIM, LeadEmbedding, embed_lead, query_words, word_key
from leadgen.stores.vectors.qdrant_store import QdrantVectorStore

LINES = ("auto", "home", "life", "health", "commercial")
STATES = ("CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI", "AZ", "WA")
_WORD_TEXT = (
    "quote renewal bundle premium deductible coverage claim accident ticket teen driver garage roof flood "
    "wind hail term whole final expense beneficiary spouse children medicare supplement advantage enrol "
    "employer payroll liability workers comp umbrella fleet contractor retail restaurant call morning "
    "evening weekend urgent shopping price lower switch current carrier cancel lapse new home purchase"
)
WORDS = _WORD_TEXT.split()
# The word slots' key: any key costs the same as the platform's.
WORD_KEY = word_key("bench-pii-hash-key")


def synthetic_lead(rng: random.Random) -> dict[str, Any]:
    line = rng.choice(LINES)
    details: dict[str, Any]
    if line == "auto":
        details = {
            "drivers": [
                {"age_first_licensed": rng.randint(15, 30), "incidents_last_5_years": rng.randint(0, 3)}
                for _ in range(rng.randint(1, 4))
            ],
            "vehicles": [
                {
                    "year": rng.randint(1998, 2026),
                    "make": rng.choice(("Ford", "Honda", "Toyota", "Tesla")),
                    "model": "X",
                }
                for _ in range(rng.randint(1, 3))
            ],
            "coverage_tier": rng.choice(("state_minimum", "standard", "premium")),
        }
    elif line == "home":
        details = {
            "year_built": rng.randint(1900, 2025),
            "square_feet": rng.randint(600, 6000),
            "construction": rng.choice(("frame", "masonry")),
            "roof_age_years": rng.randint(0, 30),
            "dwelling_coverage": rng.randint(100_000, 2_000_000),
        }
    elif line == "life":
        details = {
            "height_inches": 68,
            "weight_pounds": 170,
            "tobacco": rng.random() < 0.2,
            "face_amount": rng.choice((25_000, 100_000, 250_000, 500_000, 1_000_000)),
            "product": rng.choice(("term", "whole", "final_expense")),
            "term_years": rng.choice((10, 20, 30)),
        }
    elif line == "health":
        details = {
            "household": [{"relationship": "self", "age": rng.randint(18, 80)}]
            + [{"relationship": "child", "age": rng.randint(0, 17)} for _ in range(rng.randint(0, 4))],
            "annual_income": rng.randint(10_000, 300_000),
            "medicare_interest": rng.random() < 0.3,
        }
    else:
        details = {
            "legal_name": "Example LLC",
            "entity_type": rng.choice(("llc", "corporation", "sole_proprietor")),
            "class_code": str(rng.randint(10000, 99999)),
            "years_in_business": rng.randint(0, 40),
            "employees": rng.randint(0, 800),
            "annual_revenue": rng.randint(50_000, 50_000_000),
            "coverages": rng.sample(
                ("gl", "property", "workers_comp", "auto", "cyber", "umbrella"), k=rng.randint(1, 4)
            ),
        }
    notes = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 80))).capitalize() + "."
    return {
        "line": line,
        "state": rng.choice(STATES),
        "origin": rng.choice(("web", "phone", "referral")),
        "source_id": str(uuid.UUID(int=rng.randint(1, 20))),
        "campaign": f"campaign-{rng.randint(1, 30)}",
        "score": rng.randint(0, 100),
        "currently_insured": rng.random() < 0.6,
        "current_carrier": rng.choice(("Acme", "Globex", "Initech", None)),
        "details": details,
        "notes": notes,
    }


def percentile(samples_ms: list[float], q: float) -> float:
    ordered = sorted(samples_ms)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(name: str, samples_ms: list[float]) -> None:
    print(
        f"{name:<30} n={len(samples_ms):>6}  p50={percentile(samples_ms, 50):8.3f} ms  "
        f"p99={percentile(samples_ms, 99):8.3f} ms  max={max(samples_ms):8.3f} ms  "
        f"mean={statistics.fmean(samples_ms):8.3f} ms"
    )


def bench_embedding(leads: list[dict[str, Any]], keep: int) -> list[LeadEmbedding]:
    """Embed every lead, timing each call; returns the first ``keep`` embeddings."""
    embeddings: list[LeadEmbedding] = []
    wall: list[float] = []
    cpu: list[float] = []
    # The synthetic leads are garbage-collector work that a real worker does not have.
    gc.collect()
    gc.freeze()
    for row in leads:
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        embedding = embed_lead(row, WORD_KEY)
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
        if len(embeddings) < keep:
            embeddings.append(embedding)
    gc.unfreeze()
    first = min(200, len(wall))
    report("embed_lead wall, first 200", wall[:first])
    report("embed_lead wall, all", wall)
    report("embed_lead CPU, all", cpu)
    print(f"{'':<30} {len(leads) / (sum(wall) / 1000):,.0f} leads/s on one core; dimension {EMBEDDING_DIM}")
    return embeddings


async def bench_qdrant(leads: list[dict[str, Any]], embeddings: list[LeadEmbedding], rng: random.Random) -> None:
    agents = [f"agent-{i}" for i in range(20)]
    with tempfile.TemporaryDirectory() as folder:
        store = QdrantVectorStore.open_local(Path(folder) / "qdrant", "bench")
        await store.ensure_collection()
        upserts: list[float] = []
        for row, embedding in zip(leads, embeddings, strict=True):
            payload = {
                "line": row["line"],
                "state": row["state"],
                "outcome": rng.choice(("CONVERTED", "LOST", "ROUTED")),
                "agent_id": rng.choice(agents),
                "score": row["score"],
            }
            upserts.append(await _timed(store.upsert(uuid.uuid4(), embedding, payload)))
        report(f"qdrant-local upsert, CPU ({len(leads)})", upserts)
        similar, success, words = [], [], []
        for row, embedding in zip(leads[:100], embeddings[:100], strict=True):
            vector = embedding.vector
            similar.append(await _timed(store.similar(vector, line=row["line"], outcome="CONVERTED", limit=10)))
            chosen = rng.sample(agents, 5)
            success.append(await _timed(store.agent_success(vector, chosen, row["line"], 5)))
            words.append(await _timed(store.matching_words(query_words(rng.choice(WORDS), WORD_KEY), limit=10)))
        report("qdrant-local similar, CPU", similar)
        report("qdrant-local agent_success, CPU", success)
        report("qdrant-local matching_words, CPU", words)
        await store.close()


async def _timed(call: Awaitable[object]) -> float:
    """CPU time of this thread: local mode computes in it, and this excludes waiting for a busy core."""
    start = time.thread_time_ns()
    await call
    return (time.thread_time_ns() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=5000, help="leads to embed (at least --qdrant)")
    parser.add_argument("--qdrant", type=int, default=0, help="also store this many in Qdrant local mode")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    leads = [synthetic_lead(rng) for _ in range(max(args.leads, args.qdrant))]
    embeddings = bench_embedding(leads, keep=args.qdrant)
    if args.qdrant:
        asyncio.run(bench_qdrant(leads[: args.qdrant], embeddings, rng))


if __name__ == "__main__":
    main()
