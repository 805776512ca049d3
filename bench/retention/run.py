"""The retention purge's reads over a large book: each window of candidates, and the command's dry run.

Fills a fresh PostgreSQL database with ``--leads`` leads received over the last 8.5 years by
three quarters as many people (each lead's phone and e-mail picked from them at random, so some
people have several leads), every lead lost, converted or still accepted (8 %, which keeps its
person), with four events each; then, with the 1828-day retention, times:

- ``privacy.repository.candidates`` for each of the first ``tasks.WINDOWS`` windows of ``tasks.WINDOW``
  leads from the oldest: what one hourly run reads, the median and the slowest window;
- with ``--dry-run``, ``privacy.tasks.purge`` as ``leadgen privacy purge --dry-run`` runs it: every
  lead, nothing changed. Its time grows with the people due (each looked at in a transaction of its
  own: about 5 ms each), so give it a smaller book: ``--leads 100000 --dry-run``.

    .venv/bin/python bench/retention/run.py [--leads 600000] [--dry-run]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.database import migrated_database  # noqa: E402

from leadgen.core.db import create_engine, create_sessionmaker  # noqa: E402
from leadgen.core.resources import Resources  # noqa: E402
from leadgen.core.settings import get_settings  # noqa: E402
from leadgen.models.base import utcnow  # noqa: E402
from leadgen.privacy import repository, rules, tasks  # noqa: E402
from leadgen.targets.registry import DB  # noqa: E402

DATABASE = "leadgen_bench_retention"
RETENTION_DAYS = 1828
FILL = [
    """INSERT INTO sources (id, name, kind, cost_per_lead_cents, active, created_at)
       VALUES (gen_random_uuid(), 'vendor', 'api', 0, true, now())""",
    """INSERT INTO leads (id, source_id, line, origin, exclusive, is_test, received_at, status, state, zip_code,
                          phone_hash, email_hash, details, route_attempts, reopenings, attempts_before_reopening,
                          created_at, phone, email, first_name)
       SELECT gen_random_uuid(), (SELECT id FROM sources), 'auto', 'api', true, false, at, status, 'TX', '75001',
              md5('p' || who), md5('e' || who), '{{}}', 1, 0, 0, at, '+1555' || who, 'x' || who || '@example.com',
              'Pat'
       FROM (SELECT now() - random() * interval '3100 days' AS at, (random() * {people})::int AS who,
                    CASE WHEN random() < 0.08 THEN 'ACCEPTED' WHEN random() < 0.5 THEN 'LOST' ELSE 'CONVERTED' END
                      AS status
             FROM generate_series(1, {leads})) drawn""",
    """INSERT INTO lead_events (id, lead_id, name, data, created_at)
       SELECT gen_random_uuid(), id, name, '{{}}', received_at + hours * interval '1 hour'
       FROM leads, (VALUES ('lead.received', 0), ('lead.scored', 1), ('lead.routed', 2), ('lead.lost', 30))
                   AS steps (name, hours)""",
    "ANALYZE",
]


async def fill(leads: int) -> None:
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=DATABASE)
    try:
        for statement in FILL:
            await conn.execute(statement.format(leads=leads, people=leads * 3 // 4))
    finally:
        await conn.close()


async def windows() -> tuple[list[float], int, int]:
    """Milliseconds per window of the first hourly run, and the candidates and people due it read."""
    engine = create_engine(get_settings(), "bench")
    cutoff = rules.retention_cutoff(utcnow(), RETENTION_DAYS)
    samples: list[float] = []
    read = due = 0
    after = None
    try:
        async with create_sessionmaker(engine)() as session:
            for _ in range(tasks.WINDOWS):
                started = time.perf_counter()
                found = await repository.candidates(session, cutoff, tasks.WINDOW, after)
                samples.append((time.perf_counter() - started) * 1000)
                read += len(found)
                due += sum(candidate.due for candidate in found)
                if len(found) < tasks.WINDOW:
                    break
                after = found[-1].position
    finally:
        await engine.dispose()
    return samples, read, due


async def dry_run() -> tuple[float, tasks.Purged]:
    resources = Resources.build(get_settings(), frozenset({DB}), "bench")
    started = time.perf_counter()
    try:
        purged = await tasks.purge(resources, RETENTION_DAYS, utcnow(), "bench", every_batch=True, dry_run=True)
    finally:
        await resources.close()
    return time.perf_counter() - started, purged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=600_000, help="leads in the book")
    parser.add_argument("--dry-run", action="store_true", help="time the command's dry run too")
    args = parser.parse_args()
    started = time.perf_counter()
    migrated_database(DATABASE)
    asyncio.run(fill(args.leads))
    print(f"retention bench: {args.leads} leads over 8.5 years (filled in {time.perf_counter() - started:.0f} s)")
    samples, read, due = asyncio.run(windows())
    print(
        f"  an hourly run's reads: {len(samples)} windows of up to {tasks.WINDOW} leads, {read} read, "
        f"{due} of them due; per window median {statistics.median(samples):.1f} ms, slowest {max(samples):.1f} ms, "
        f"all {sum(samples):.0f} ms"
    )
    if not args.dry_run:
        return
    seconds, purged = asyncio.run(dry_run())
    print(f"  dry run of the command: {purged.people} people ({purged.leads} leads) due, in {seconds:.1f} s")


if __name__ == "__main__":
    main()
