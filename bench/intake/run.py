"""Intake throughput: ``POST /api/v1/leads`` on PostgreSQL next to a bare FastAPI echo, same run.

    python bench/intake/run.py [--concurrency 32] [--duration 10] [--warmup 2] [--rounds 1]

1. Recreates a dedicated PostgreSQL database (``leadgen_bench``), migrates it with
   ``leadgen db upgrade`` and creates an API key with ``leadgen api-keys create``; flushes the
   bench's Redis db (10), which the api uses for rate limits and as the Celery broker.
2. Starts two server processes, one uvicorn worker each: ``leadgen serve --target api`` (the real
   intake: key check, validation, normalisation, lead + consent + outbox stored in one
   transaction, hand-off to Redis) and ``uvicorn echo:app`` (``echo.py``: parse, return).
3. Drives each in turn with ``load.py`` (a separate process; N keep-alive connections, one
   pre-built request body) and prints requests/s, p50/p99 latency, errors, CPU use of server and
   client, and the ratio intake/echo (goal: at least 25 %). Rounds alternate echo and intake.
4. Checks that every lead the api accepted is in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis import Redis

HERE = Path(__file__).resolve().parent
GOAL = 0.25
LEAD: dict[str, Any] = {
    "line": "auto",
    "campaign": "bench",
    "contact": {
        "first_name": "Pat",
        "last_name": "Doe",
        "email": "pat.doe@example.com",
        "phone": "512-555-0142",
        "address": {"street": "12 Oak Street", "city": "Austin", "zip": "78701"},
    },
    "currently_insured": True,
    "consent": {
        "text": "I agree to be contacted by licensed agents about insurance quotes.",
        "captured_at": "",  # set at start: consent must be recent
        "ip": "203.0.113.7",
        "page_url": "https://quotes.example.com/auto",
    },
    "details": {
        "drivers": [{"age_first_licensed": 17}],
        "vehicles": [{"year": 2019, "make": "Toyota", "model": "Camry"}],
    },
}


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    path: str
    expect: int
    headers: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def leadgen(*args: str, env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "leadgen", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"leadgen {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


async def recreate_database(host: str, port: int, user: str, name: str) -> None:
    conn = await asyncpg.connect(host=host, port=port, user=user, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def count_leads(host: str, port: int, user: str, name: str) -> int:
    conn = await asyncpg.connect(host=host, port=port, user=user, database=name)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM leads"))
    finally:
        await conn.close()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server behind {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer 200 within {timeout:.0f}s")


@contextmanager
def started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def drive(server: Server, body: Path, opts: argparse.Namespace) -> dict[str, Any]:
    before = cpu_seconds(server.process.pid)
    command = [
        sys.executable,
        str(HERE / "load.py"),
        "--url",
        server.url,
        "--body",
        str(body),
        "--expect",
        str(server.expect),
        "--concurrency",
        str(opts.concurrency),
        "--duration",
        str(opts.duration),
        "--warmup",
        str(opts.warmup),
    ]
    for header in server.headers:
        command += ["--header", header]
    started_at = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started_at
    if done.returncode != 0:
        sys.exit(f"load generator failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    after = cpu_seconds(server.process.pid)
    result["server_cpu"] = None if before is None or after is None else (after - before) / wall
    return result


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds added up: total requests over total time; the median round's latencies."""
    requests = sum(r["requests"] for r in results)
    seconds = sum(r["seconds"] for r in results)
    middle = sorted(results, key=lambda r: r["rps"])[len(results) // 2]
    return {
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds,
        "p50_ms": middle["p50_ms"],
        "p99_ms": middle["p99_ms"],
        "errors": sum(r["errors"] for r in results),
        "error_kinds": {k: v for r in results for k, v in r["error_kinds"].items()},
        "accepted_total": sum(r["accepted_total"] for r in results),
        "server_cpu": _mean([r["server_cpu"] for r in results]),
        "client_cpu": _mean([r["client_cpu"] for r in results]),
    }


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def report(opts: argparse.Namespace, echo: dict[str, Any], intake: dict[str, Any], stored: int, accepted: int) -> None:
    ratio = intake["rps"] / echo["rps"] if echo["rps"] else 0.0
    print()
    print("bench/intake: POST /api/v1/leads (api target) vs a bare FastAPI echo, same payload")
    print(
        f"  concurrency {opts.concurrency} connections, {opts.duration:g} s measured after {opts.warmup:g} s warm-up,"
        f" {opts.rounds} round(s) each, alternating"
    )
    print(
        f"  database    postgresql://{opts.pg_user}@{opts.pg_host}:{opts.pg_port}/{opts.database}"
        f" (pool {os.environ.get('LEADGEN_DB_POOL_SIZE', '10')}+{os.environ.get('LEADGEN_DB_MAX_OVERFLOW', '10')})"
    )
    print(f"  redis       {opts.redis_url or 'none (embedded rate limiter and queue)'}")
    print(
        f"  servers     one process each, uvicorn (one worker); log level {opts.log_level};"
        f" body {len(json.dumps(LEAD))} bytes; load generator: bench/intake/load.py in its own process"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  machine     {os.cpu_count()} CPUs, load average {load} at the end (other work on it skews figures)")
    print()
    columns = ("requests", "req/s", "p50 ms", "p99 ms")
    print(f"  {'':<8}" + "".join(f"{c:>10}" for c in columns) + f"{'errors':>8}{'server CPU':>12}{'client CPU':>12}")
    for name, r in (("echo", echo), ("intake", intake)):
        print(
            f"  {name:<8}{r['requests']:>10}{r['rps']:>10.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}"
            f"{r['errors']:>8}{_pct(r['server_cpu']):>12}{_pct(r['client_cpu']):>12}"
        )
        if r["error_kinds"]:
            print(f"  {'':<8}errors: {r['error_kinds']}")
    print()
    print(f"  intake/echo = {ratio * 100:.1f} %  (goal >= {GOAL * 100:.0f} %: {'met' if ratio >= GOAL else 'NOT met'})")
    verdict = "all stored" if stored == accepted else "MISMATCH"
    print(f"  leads stored {stored}, accepted with 202 {accepted}: {verdict}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32, help="client connections (default 32)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per round (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="echo/intake rounds, alternating (default 1)")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres", help="a user that may create databases (trust auth)")
    parser.add_argument("--database", default="leadgen_bench", help="dropped and recreated (default leadgen_bench)")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/10",
        help="Redis db for the api's rate limits and broker, flushed (empty: embedded)",
    )
    parser.add_argument("--log-level", default="INFO", help="the api's log level (default INFO, as deployed)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    return parser.parse_args()


def main() -> None:
    opts = parse()
    db_url = f"postgresql+asyncpg://{opts.pg_user}@{opts.pg_host}:{opts.pg_port}/{opts.database}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADGEN_")}
    env.update(
        {
            "LEADGEN_DB_URL": db_url,
            "LEADGEN_INTAKE_RATE_LIMIT": "1000000/second",
            "LEADGEN_LOG_LEVEL": opts.log_level,
            "LEADGEN_DATA_DIR": tempfile.mkdtemp(prefix="leadgen-bench-"),
        }
    )
    pool = ("LEADGEN_DB_POOL_SIZE", "LEADGEN_DB_MAX_OVERFLOW")
    env.update({k: v for k, v in os.environ.items() if k in pool})
    if opts.redis_url:
        env["LEADGEN_REDIS_URL"] = opts.redis_url
        Redis.from_url(opts.redis_url).flushdb()

    print(f"preparing database {opts.database} ...", flush=True)
    asyncio.run(recreate_database(opts.pg_host, opts.pg_port, opts.pg_user, opts.database))
    leadgen("db", "upgrade", env=env)
    key = json.loads(leadgen("api-keys", "create", "bench-vendor", "--json", env=env))["api_key"]

    LEAD["consent"]["captured_at"] = datetime.now(UTC).isoformat()
    work = Path(env["LEADGEN_DATA_DIR"])
    body = work / "lead.json"
    body.write_bytes(json.dumps(LEAD).encode())
    intake_port, ops_port, echo_port = free_port(), free_port(), free_port()

    with (
        started(
            [sys.executable, "-m", "leadgen", "serve", "--target", "api", "--port", str(intake_port)],
            {**env, "LEADGEN_HTTP_METRICS_PORT": str(ops_port)},
            work / "api.log",
        ) as api,
        started(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "echo:app",
                "--app-dir",
                str(HERE),
                "--port",
                str(echo_port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env,
            work / "echo.log",
        ) as echo_process,
    ):
        wait_ready(f"http://127.0.0.1:{intake_port}/readyz", api)
        wait_ready(f"http://127.0.0.1:{echo_port}/healthz", echo_process)
        intake = Server("intake", api, intake_port, "/api/v1/leads", 202, [f"X-API-Key: {key}"])
        echo = Server("echo", echo_process, echo_port, "/api/v1/leads", 202, [f"X-API-Key: {key}"])

        # One request each first: the intake must accept the lead, the echo must return it.
        for server in (intake, echo):
            check = httpx.post(
                server.url,
                content=body.read_bytes(),
                timeout=10,
                headers={"content-type": "application/json", "x-api-key": key},
            )
            if check.status_code != server.expect:
                sys.exit(f"{server.name}: {check.status_code} {check.text}")
        assert check.json() == LEAD, "the echo did not return the payload"

        for n in range(opts.rounds):
            for server in (echo, intake):
                print(f"round {n + 1}/{opts.rounds}: {server.name} ...", flush=True)
                server.results.append(drive(server, body, opts))

    echo_figures, intake_figures = combine(echo.results), combine(intake.results)
    stored = asyncio.run(count_leads(opts.pg_host, opts.pg_port, opts.pg_user, opts.database))
    accepted = intake_figures["accepted_total"] + 1  # and the check request
    report(opts, echo_figures, intake_figures, stored, accepted)
    if opts.redis_url:
        Redis.from_url(opts.redis_url).flushdb()  # the hand-offs nobody consumed
    if opts.json:
        print(
            json.dumps(
                {
                    "echo": echo_figures,
                    "intake": intake_figures,
                    "ratio": intake_figures["rps"] / echo_figures["rps"],
                    "stored": stored,
                }
            )
        )


if __name__ == "__main__":
    main()
