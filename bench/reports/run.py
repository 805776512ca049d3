"""The performance report over a large book, against a bare count of the same leads.

Fills a fresh PostgreSQL database with ``--leads`` leads spread over ``--days`` days (five sources,
campaigns, fifty agents, offers accepted, timed out and returned, contacts and conversions recorded
as the platform records them), then times ``reports.repository.performance`` for the default
30-day period, by each grouping, against the floor any such report pays: counting the period's
leads per source in one query. Prints the median of ``--repeat`` runs of each.

    .venv/bin/python bench/reports/run.py [--leads 200000] [--days 90] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.database import migrated_database  # noqa: E402

from leadgen.core.db import create_engine, create_sessionmaker  # noqa: E402
from leadgen.core.settings import get_settings  # noqa: E402
from leadgen.models import Lead, Source  # noqa: E402
from leadgen.models.base import utcnow  # noqa: E402
from leadgen.reports import repository  # noqa: E402
from leadgen.reports.rules import DEFAULT_PERIOD, GROUPINGS  # noqa: E402

DATABASE = "leadgen_bench_reports"
AGENTS = 50
ORDINALS = ("first", "second")  # the agents offered a lead, picked from a hash of its id
AGENT_BY_HASH = (
    "(SELECT array_agg(id ORDER BY name) FROM agents)[1 + abs(hashtext(l.id::text)::bigint + {shift}) % {agents}]"
)
# One statement per table: the leads, then each lead's offers and events derived from its number.
FILL = [
    """INSERT INTO sources (id, name, kind, cost_per_lead_cents, active, created_at)
       SELECT gen_random_uuid(), 'vendor-' || n, 'vendor', 500 * n, true, now() FROM generate_series(1, 5) n""",
    """INSERT INTO agents (id, name, email, timezone, active, daily_cap, open_cap, weight, created_at)
       SELECT gen_random_uuid(), 'Agent ' || n, 'agent' || n || '@bench.leadgen.dev', 'America/Chicago', true,
              100, 100, 1, now() FROM generate_series(1, {agents}) n""",
    """INSERT INTO leads (id, source_id, campaign, line, origin, exclusive, is_test, received_at, status, state,
                          zip_code, details, route_attempts, reopenings, attempts_before_reopening, created_at)
       SELECT gen_random_uuid(), (SELECT array_agg(id ORDER BY name) FROM sources)[1 + n % 5],
              CASE WHEN n % 4 = 0 THEN NULL ELSE 'campaign-' || n % 7 END,
              (ARRAY['auto', 'home', 'life', 'health'])[1 + n % 4], 'api', n % 10 <> 0, n % 97 = 0,
              now() - (n::float / {leads} * interval '{days} days'),
              (ARRAY['CONVERTED', 'CONTACTED', 'LOST', 'QUOTED', 'DUPLICATE', 'UNASSIGNED', 'RETURNED',
                     'ACCEPTED', 'INVALID', 'ROUTED'])[1 + n % 10],
              'TX', '78701', '{{}}', 1, 0, 0, now()
       FROM generate_series(1, {leads}) n""",
    """INSERT INTO assignments (id, lead_id, agent_id, attempt, slot, status, strategy, explanation, expires_at,
                                responded_at, created_at)
       SELECT gen_random_uuid(), l.id, {first_agent}, 1, 0,
              CASE l.status WHEN 'RETURNED' THEN 'RETURNED' WHEN 'ROUTED' THEN 'PENDING' ELSE 'ACCEPTED' END,
              'round_robin', '{{}}', l.received_at + interval '15 minutes', l.received_at + interval '5 minutes',
              l.received_at
       FROM leads l WHERE l.status NOT IN ('DUPLICATE', 'INVALID', 'UNASSIGNED')""",
    """INSERT INTO assignments (id, lead_id, agent_id, attempt, slot, status, strategy, explanation, expires_at,
                                created_at)
       SELECT gen_random_uuid(), l.id, {second_agent}, 0, 0, 'TIMED_OUT', 'round_robin', '{{}}', l.received_at,
              l.received_at
       FROM leads l WHERE l.status = 'UNASSIGNED' OR abs(hashtext(l.id::text)) % 5 = 0""",
    """INSERT INTO lead_events (id, lead_id, name, data, created_at)
       SELECT gen_random_uuid(), a.lead_id, 'lead.contacted', jsonb_build_object('agent_id', a.agent_id::text),
              a.responded_at + (abs(hashtext(a.lead_id::text)) % 120) * interval '1 minute'
       FROM assignments a JOIN leads l ON l.id = a.lead_id
       WHERE a.status = 'ACCEPTED' AND l.status IN ('CONVERTED', 'CONTACTED', 'LOST', 'QUOTED')""",
    """INSERT INTO lead_events (id, lead_id, name, data, created_at)
       SELECT gen_random_uuid(), a.lead_id, 'lead.converted', jsonb_build_object('agent_id', a.agent_id::text),
              a.responded_at + interval '3 days'
       FROM assignments a JOIN leads l ON l.id = a.lead_id WHERE a.status = 'ACCEPTED' AND l.status = 'CONVERTED'""",
    "ANALYZE",
]


async def fill(leads: int, days: int) -> None:
    agents = {f"{which}_agent": AGENT_BY_HASH.format(shift=n, agents=AGENTS) for n, which in enumerate(ORDINALS)}
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=DATABASE)
    try:
        for statement in FILL:
            await conn.execute(statement.format(leads=leads, days=days, agents=AGENTS, **agents))
    finally:
        await conn.close()


async def measure(repeat: int) -> tuple[dict[str, float], dict[str, int]]:
    """Median milliseconds per query, and the size of what each read."""
    engine = create_engine(get_settings(), "bench")
    sessions = create_sessionmaker(engine)
    until = utcnow()
    since = until - DEFAULT_PERIOD
    floor = (
        select(Source.name, func.count())
        .select_from(Lead)
        .join(Source, Source.id == Lead.source_id)
        .where(Lead.received_at >= since, Lead.received_at < until, Lead.is_test.is_(False))
        .group_by(Source.name)
    )
    timings: dict[str, float] = {}
    sizes: dict[str, int] = {}

    async def timed(name: str, run: Callable[[], Awaitable[int]]) -> None:
        samples = []
        for _ in range(repeat + 1):  # the first run warms the caches and is not counted
            started = time.perf_counter()
            sizes[name] = await run()
            samples.append((time.perf_counter() - started) * 1000)
        timings[name] = statistics.median(samples[1:])

    try:
        async with sessions() as session:

            async def count_per_source() -> int:
                return sum(n for _, n in await session.execute(floor))

            await timed("bare count per source", count_per_source)
            for grouping in GROUPINGS:

                async def report(by: str = grouping) -> int:
                    return len(await repository.performance(session, by, since, until))  # type: ignore[arg-type]

                await timed(f"performance by {grouping}", report)
    finally:
        await engine.dispose()
    return timings, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=200_000, help="leads in the book")
    parser.add_argument("--days", type=int, default=90, help="days they were received over")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query (after one warm-up)")
    args = parser.parse_args()
    started = time.perf_counter()
    migrated_database(DATABASE)
    asyncio.run(fill(args.leads, args.days))
    filled = time.perf_counter() - started
    timings, sizes = asyncio.run(measure(args.repeat))
    in_period = sizes["bare count per source"]
    print(
        f"reports bench: {args.leads} leads over {args.days} days (filled in {filled:.0f} s), "
        f"{in_period} of them in the last {DEFAULT_PERIOD.days} days; median of {args.repeat} runs"
    )
    floor = timings["bare count per source"]
    for name, ms in timings.items():
        rows = "" if name == "bare count per source" else f", {sizes[name]} rows"
        print(f"  {name:<26} {ms:8.1f} ms   {ms / floor:5.1f} times the bare count{rows}")


if __name__ == "__main__":
    main()
