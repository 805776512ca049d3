"""A small, cheap HTTP/1.1 load generator, run as its own process by ``run.py``.

``--concurrency`` keep-alive connections each send one pre-built request (the same bytes every
time), wait for the whole response, and send it again, until ``--warmup + --duration`` seconds
have passed. Only responses completed inside the measured window count. Raw asyncio streams (on
uvloop when installed) keep the client's cost per request far below a server's, so on a small
machine the generator is not what limits the figures; its own CPU use is reported to show it.

Prints one JSON object: requests, seconds, rps, p50_ms, p99_ms, errors, statuses, client_cpu.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.rawhttp import Target, exchange, post_request

RECONNECT_PAUSE_SECONDS = 0.05


@dataclass
class Tally:
    warm_until: float
    stop_at: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # inside the measured window
    errors: Counter[str] = field(default_factory=Counter)  # inside the measured window
    answered: Counter[int] = field(default_factory=Counter)  # over the whole run, warm-up included

    def measured(self, at: float) -> bool:
        return self.warm_until <= at <= self.stop_at


async def client(target: Target, request: bytes, tally: Tally) -> None:
    while time.perf_counter() < tally.stop_at:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(*target.address)
            keep = True
            while keep and (started := time.perf_counter()) < tally.stop_at:
                response = await exchange(reader, writer, request)
                keep = response.keep_alive
                done = time.perf_counter()
                tally.answered[response.status] += 1
                if tally.measured(done):
                    tally.latencies.append(done - started)
                    tally.statuses[response.status] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            if tally.measured(time.perf_counter()):
                tally.errors[type(exc).__name__] += 1
            await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def main(args: argparse.Namespace, body: bytes) -> dict[str, object]:
    target = Target.of(args.url)
    request = post_request(target, args.header, body)
    begin = time.perf_counter()
    tally = Tally(begin + args.warmup, begin + args.warmup + args.duration)
    cpu = time.process_time()
    await asyncio.gather(*(client(target, request, tally) for _ in range(args.concurrency)))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - begin
    ordered = sorted(tally.latencies)
    ok = sum(n for status, n in tally.statuses.items() if status == args.expect)
    wrong = {str(s): n for s, n in tally.statuses.items() if s != args.expect}
    return {
        "requests": ok,
        "seconds": args.duration,
        "rps": ok / args.duration,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "errors": sum(wrong.values()) + sum(tally.errors.values()),
        "error_kinds": {**wrong, **tally.errors},
        "accepted_total": tally.answered.get(args.expect, 0),
        "client_cpu": cpu / wall,
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="http://host:port/path to POST to")
    parser.add_argument("--body", required=True, help="file holding the JSON body")
    parser.add_argument("--header", action="append", default=[], help="extra 'Name: value' header")
    parser.add_argument("--expect", type=int, default=202, help="the status a successful request gets")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    payload = Path(arguments.body).read_bytes()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(main(arguments, payload))
    else:
        result = uvloop.run(main(arguments, payload))
    print(json.dumps(result))
