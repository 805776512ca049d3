"""End-to-end pipeline latency and throughput: received -> routed, one worker, PostgreSQL + Redis.

Starts the api target, ONE orchestrator process (`leadgen serve --target orchestrator`, the
pipeline queue) and, as deployed, a worker for the notifications queue, against a
dedicated PostgreSQL database and Redis db, loads the demo book plus an agency floor that is on
shift around the clock (so leads are routed, not left unassigned, whatever the hour), and a real
local SMTP server (aiosmtpd) that the agents' offer e-mails reach. After a warm-up at the same
rate (default 3 s, not counted), it posts leads at a fixed rate (default 100/s for 30 s) and reads
back, for every lead, the time from `received_at` to the pipeline's decision (the `lead.routed` /
`lead.unassigned` / `lead.duplicate` ... event). Prints p50/p99 latency, the sustained throughput
against the goal (p99 under 250 ms at 100 leads/s), the outcomes and how many offer e-mails
arrived, and the CPU time each process spent per lead (from the kernel's accounts, through
psutil): what one orchestrator process would sustain on a core of its own, whatever else shares
this machine.

    .venv/bin/python bench/pipeline/run.py [--rate 100] [--seconds 30] [--concurrency 4] [--warmup 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path

import asyncpg
import httpx
import psutil
from aiosmtpd.controller import Controller
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.rawhttp import Target, exchange, post_request  # noqa: E402
from tests.targets.processes import base_env, free_port, fresh_database, serve, wait_for  # noqa: E402

from leadgen.agents.schemas import AgentCreate, LicenceIn, ShiftIn  # noqa: E402
from leadgen.agents.service import create as create_agent  # noqa: E402
from leadgen.core.db import create_engine, create_sessionmaker, transaction  # noqa: E402
from leadgen.core.settings import get_settings  # noqa: E402
from leadgen.leads.geography import state_for_zip  # noqa: E402
from leadgen.leads.lifecycle import Line  # noqa: E402

DATABASE = "leadgen_bench_pipeline"
REDIS_URL = "redis://127.0.0.1:6379/12"
DECISIONS = ("lead.routed", "lead.unassigned", "lead.duplicate", "lead.rejected", "lead.invalid")
ZIPS = ["78701", "33101", "90012", "10001", "60601", "43004", "30301", "85001"]
FLOOR_AGENTS = 24
REFUSALS = (429, 503)  # overload answers a sender waits out and sends again
ALL_DAY_END = clock(23, 59, 59, 999999)


def payload(n: int) -> dict[str, object]:
    return {
        "line": "auto",
        "campaign": "bench",
        "contact": {
            "first_name": "Bench",
            "last_name": f"Lead{n}",
            "email": f"bench{n}-{uuid.uuid4().hex[:6]}@example.com",
            "phone": f"512-555-{n % 10000:04d}",
            "address": {"street": f"{n} Main St", "zip": ZIPS[n % len(ZIPS)]},
        },
        "currently_insured": n % 2 == 0,
        "consent": {
            "text": "I agree to be contacted by licensed agents about insurance quotes.",
            "captured_at": datetime.now(UTC).isoformat(),
            "ip": "203.0.113.7",
            "page_url": "https://quotes.example.com/auto",
        },
        "details": {
            "drivers": [{"age_first_licensed": 17}],
            "vehicles": [{"year": 2020, "make": "Honda", "model": "Civic"}],
        },
    }


async def recreate_stores() -> None:
    await fresh_database(DATABASE)
    await Redis.from_url(REDIS_URL).flushdb()


async def load_floor() -> None:
    """Agents licensed for auto in every bench state, on shift all day every day, with caps far
    above what one run offers: the demo book alone leaves most leads unassigned at night."""
    engine = create_engine(get_settings(), "bench")
    states = sorted({state for state in map(state_for_zip, ZIPS) if state})
    expires = date(date.today().year + 2, 12, 31)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            for n in range(FLOOR_AGENTS):
                agent = AgentCreate(
                    name=f"Floor Agent {n:02d}",
                    email=f"floor{n:02d}@bench.leadgen.dev",
                    timezone="America/Chicago",
                    daily_cap=1000,
                    open_cap=5000,
                    licences=[LicenceIn(state=st, line=Line.AUTO, expires_on=expires) for st in states],
                    shifts=[ShiftIn(weekday=d, starts_at=clock(0), ends_at=ALL_DAY_END) for d in range(7)],
                )
                await create_agent(session, agent, "bench")
    finally:
        await engine.dispose()


async def load_history(leads: int) -> None:
    """A floor that has worked for a while: ``leads`` converted leads a month old, each accepted by
    one of the floor's agents, written as the platform leaves them (the offer ACCEPTED and closed
    when the lead converted). Plain SQL: thousands of leads through the API would take minutes."""
    if leads <= 0:
        return
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=DATABASE)
    try:
        floor = [r["id"] for r in await conn.fetch("SELECT id FROM agents WHERE name LIKE 'Floor Agent%' ORDER BY id")]
        source = await conn.fetchval("SELECT id FROM sources ORDER BY name LIMIT 1")
        rows = [(uuid.uuid4(), floor[n % len(floor)]) for n in range(leads)]
        await conn.executemany(
            "INSERT INTO leads (id, source_id, line, origin, exclusive, is_test, received_at, status, state, zip_code,"
            " details, route_attempts, created_at) VALUES ($1, $2, 'auto', 'api', true, false,"
            " now() - interval '30 days', 'CONVERTED', 'TX', '78701', '{}', 1, now() - interval '30 days')",
            [(lead, source) for lead, _ in rows],
        )
        await conn.executemany(
            "INSERT INTO assignments (id, lead_id, agent_id, attempt, slot, status, strategy, explanation, expires_at,"
            " responded_at, created_at, closed_at) VALUES ($1, $2, $3, 1, 0, 'ACCEPTED', 'round_robin', '{}',"
            " now() - interval '30 days', now() - interval '30 days', now() - interval '30 days',"
            " now() - interval '29 days')",
            [(uuid.uuid4(), lead, agent) for lead, agent in rows],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


class CpuMeter:
    """CPU seconds (user + system) each part of the system spends between ``start`` and ``stop``."""

    def __init__(self, parts: dict[str, Callable[[], list[psutil.Process]]]) -> None:
        self.parts = parts
        self.started: dict[str, dict[int, float]] = {}
        self.spent: dict[str, float] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        readings: dict[str, dict[int, float]] = {}
        for part, processes in self.parts.items():
            readings[part] = {}
            for process in processes():
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    readings[part][process.pid] = times.user + times.system
        return readings

    def start(self) -> None:
        self.started = self._read()

    def stop(self) -> None:
        # A process that started during the run counts from zero; one that ended is not counted.
        for part, now in self._read().items():
            self.spent[part] = sum(t - self.started[part].get(pid, 0.0) for pid, t in now.items())


def named(name: str) -> Callable[[], list[psutil.Process]]:
    return lambda: [p for p in psutil.process_iter(["name"]) if p.info["name"] == name]


class Mailbox:
    """The local SMTP server's handler: counts the messages that arrive."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802 (aiosmtpd hook)
        self.received += 1
        return "250 OK"


def prepare(env: dict[str, str]) -> str:
    """A fresh bench database and Redis db, migrated, with the demo book, the floor and an API key."""
    asyncio.run(recreate_stores())
    for args in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([sys.executable, "-m", "leadgen", *args], env=env, check=True, capture_output=True)
    asyncio.run(load_floor())
    out = subprocess.run(
        [sys.executable, "-m", "leadgen", "api-keys", "create", "bench", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return str(json.loads(out.stdout)["api_key"])


async def post_at_rate(api: str, key: str, rate: float, seconds: float, first: int = 0) -> Posted:
    """Leads ``first``, ``first + 1``, ... at ``rate`` per second: each a different person."""
    total = int(rate * seconds)
    started = time.perf_counter()
    poster = LeadPoster(api, key)
    try:
        tasks = []
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(poster.post(payload(first + n))))
        return Posted(list(await asyncio.gather(*tasks)), poster.refused)
    finally:
        poster.close()


@dataclass(frozen=True)
class Posted:
    ids: list[str]
    refused: int  # answers 503/429 that were waited out and sent again


class LeadPoster:
    """``POST /api/v1/leads`` over a pool of keep-alive connections, with raw streams
    (bench/rawhttp.py): the load generator shares the CPUs with the platform it measures.

    Like a vendor's client, it sends a lead again after the ``Retry-After`` of a 503 (no database
    connection came free in time) or a 429; those answers are counted, and the goal is not met
    while there are any: a lead sent again is not measured from its first try."""

    def __init__(self, api: str, key: str) -> None:
        self.target = Target.of(f"{api}/api/v1/leads")
        self.headers = [f"X-API-Key: {key}"]
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.refused = 0

    async def post(self, body: dict[str, object]) -> str:
        request = post_request(self.target, self.headers, json.dumps(body).encode())
        while True:
            reused = bool(self.idle)
            reader, writer = self.idle.pop() if reused else await asyncio.open_connection(*self.target.address)
            try:
                response = await exchange(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
                if reused:
                    continue  # the server closed an idle keep-alive connection just as it was reused
                raise
            if response.keep_alive:
                self.idle.append((reader, writer))
            else:
                writer.close()
            if response.status in REFUSALS and response.retry_after is not None:
                self.refused += 1
                await asyncio.sleep(response.retry_after)
                continue
            if response.status != 202:
                raise RuntimeError(f"intake answered {response.status}: {response.body[:500]!r}")
            return str(json.loads(response.body)["id"])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def latencies(ids: list[str], wait_seconds: float) -> list[float]:
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=DATABASE)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            rows = await conn.fetch(
                "SELECT l.received_at, min(e.created_at) AS decided "
                "FROM leads l JOIN lead_events e ON e.lead_id = l.id "
                "WHERE e.name = ANY($1::text[]) AND l.id = ANY($2::uuid[]) GROUP BY l.id, l.received_at",
                list(DECISIONS),
                ids,
            )
            if len(rows) >= len(ids) or time.monotonic() > deadline:
                return [(r["decided"] - r["received_at"]).total_seconds() for r in rows]
            await asyncio.sleep(1)
    finally:
        await conn.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="leads per second offered")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to offer them")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks the orchestrator runs at once")
    parser.add_argument(
        "--history", type=int, default=0, help="converted leads the floor's agents worked before the run"
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of leads at the same rate first, decided and not counted"
    )
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="leadgen-bench-")
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    env = base_env(
        LEADGEN_DB_URL=f"postgresql://postgres@127.0.0.1/{DATABASE}",
        LEADGEN_REDIS_URL=REDIS_URL,
        LEADGEN_DATA_DIR=data_dir,
        LEADGEN_LOG_LEVEL="WARNING",
        LEADGEN_INTAKE_RATE_LIMIT="10000/second",
        LEADGEN_SMTP_HOST="127.0.0.1",
        LEADGEN_SMTP_PORT=str(smtp.port),
        LEADGEN_WORKER_CONCURRENCY=str(args.concurrency),
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("LEADGEN_")})
    key = prepare(env)
    asyncio.run(load_history(args.history))
    logs = Path(data_dir) / "logs"
    smtp.start()
    api = serve("api", env, logs)
    # As deployed: the orchestrator runs the pipeline queue, a worker the notifications.
    orchestrator = serve("orchestrator", env, logs)
    # Qdrant's local mode admits one process per folder; in production both share the Qdrant server.
    worker_env = {**env, "LEADGEN_WORKER_QUEUES": "default", "LEADGEN_DATA_DIR": f"{data_dir}/notifications"}
    worker = serve("worker", worker_env, logs, http=False)
    try:
        for process in (api, orchestrator, worker):
            process.wait_healthy()
        for ops in (orchestrator.ops, worker.ops):
            wait_for(lambda url=f"{ops}/readyz": httpx.get(url).status_code == 200 or None, 30, "readiness")
        assert api.http is not None
        meter = CpuMeter(
            {
                "orchestrator": lambda: [psutil.Process(orchestrator.process.pid)],
                "api": lambda: [psutil.Process(api.process.pid)],
                "notifications worker": lambda: [psutil.Process(worker.process.pid)],
                "PostgreSQL": named("postgres"),
                "Redis": named("redis-server"),
                "load generator + SMTP server": lambda: [psutil.Process()],
            }
        )
        warm: list[str] = []
        if args.warmup > 0:
            # Each process's first leads prepare its statements and fill its caches; a service that has
            # been up for a while has done that long ago.
            warm = asyncio.run(post_at_rate(api.http, key, args.rate, args.warmup)).ids
            asyncio.run(latencies(warm, wait_seconds=120))
        meter.start()
        emails_before = mailbox.received
        posted = asyncio.run(post_at_rate(api.http, key, args.rate, args.seconds, first=len(warm)))
        ids = posted.ids
        t0 = time.perf_counter()
        values = asyncio.run(latencies(ids, wait_seconds=120))
        drained = time.perf_counter() - t0
        time.sleep(2)  # the last offers' e-mails are sent just after the decision
        meter.stop()
        outcomes = asyncio.run(outcome_counts(ids))
    finally:
        for process in (api, orchestrator, worker):
            process.stop()
        smtp.stop()
    report(args, posted, values, drained, outcomes, mailbox.received - emails_before, meter.spent)


async def outcome_counts(ids: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=DATABASE)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM leads WHERE id = ANY($1::uuid[]) GROUP BY status ORDER BY status", ids
        )
        return {r["status"]: r["n"] for r in rows}
    finally:
        await conn.close()


def report(
    args: argparse.Namespace,
    posted: Posted,
    values: list[float],
    drained: float,
    outcomes: dict[str, int],
    emails: int,
    cpu: dict[str, float],
) -> None:
    ids, done = posted.ids, len(values)
    print(
        f"pipeline bench: {len(ids)} leads offered at {args.rate:.0f}/s for {args.seconds:.0f}s "
        f"after {args.warmup:.0f}s of warm-up, {args.history} leads of history; "
        f"one orchestrator (concurrency {args.concurrency}), PostgreSQL + Redis"
    )
    print(f"  decided:            {done}/{len(ids)} (backlog drained {drained:.1f}s after the last post)")
    print(f"  refused, sent again: {posted.refused} (503/429 answers waited out)")
    print(f"  latency p50:        {pct(values, 0.50) * 1000:.0f} ms")
    print(f"  latency p99:        {pct(values, 0.99) * 1000:.0f} ms   (goal < 250 ms)")
    print(f"  latency max:        {max(values) * 1000:.0f} ms, mean {statistics.mean(values) * 1000:.0f} ms")
    print(f"  throughput:         {done / (args.seconds + drained):.1f} leads/s sustained (offered {args.rate:.0f}/s)")
    print(f"  outcomes:           {', '.join(f'{status} {n}' for status, n in outcomes.items())}")
    print(f"  e-mails:            {emails} arrived at the local SMTP server (offers, acknowledgements)")
    per_lead = {part: seconds * 1000 / max(1, len(ids)) for part, seconds in cpu.items()}
    total = sum(per_lead.values())
    print(f"  CPU per lead:       {total:.1f} ms in all: " + ", ".join(f"{p} {ms:.1f}" for p, ms in per_lead.items()))
    print(
        f"  capacity (CPU-bound, at most): one orchestrator process on a core of its own: "
        f"{1000 / max(per_lead['orchestrator'], 0.001):.0f} leads/s; "
        f"everything on this machine's {psutil.cpu_count()} CPUs: {psutil.cpu_count() * 1000 / total:.0f} leads/s"
    )
    met = args.rate >= 100 and done == len(ids) and not posted.refused and pct(values, 0.99) < 0.25
    print(f"  goal:               {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
