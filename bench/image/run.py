"""Measure the image: size, seconds from `podman run` to /readyz 200 per target, idle memory per target.

Every container runs under the pod's restrictions (tests/image/harness.py), against the host's
PostgreSQL and Redis, one target at a time on its own ports. Goals (issue 3): image under 250 MB
uncompressed, every target ready in under 3 s, idle RSS under 150 MB per target.

    .venv/bin/python bench/image/run.py                 # build, then measure (3 starts per target)
    .venv/bin/python bench/image/run.py --no-build --repeat 5 --json /tmp/image-bench.json

Wall-clock start times depend on what else the machine runs (2 cores here, often shared), so the
CPU time the container used until it was ready is printed beside them, with the load average
and the time `podman run` takes for `python -c pass` under the same restrictions.

Memory is read from /proc of the container's process tree after it has idled: RSS (resident
pages) and PSS (pages shared with other processes split between them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.image import harness  # noqa: E402

from leadgen.targets.registry import HTTP_TARGETS, TARGETS  # noqa: E402

GOAL_SIZE_MB = 250.0
GOAL_READY_S = 3.0
GOAL_RSS_MB = 150.0
MB = 1_000_000


@dataclass
class Result:
    target: str
    ready_seconds: list[float]
    cpu_seconds: list[float]
    rss_mb: float
    pss_mb: float
    processes: int

    @property
    def ready_median(self) -> float:
        return statistics.median(self.ready_seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_seconds)


def start_ready(
    stack: ExitStack, image: str, target: str, db_url: str, name: str, env: dict[str, str] | None = None
) -> tuple[harness.Container, float]:
    """Start the target in the image under the pod's restrictions (the frontend with the api it
    needs to be ready, as in the cluster), with ``env`` added; returns the container once every
    readiness URL answers, and how long the slowest took."""
    if target == "all":
        args, config = ["up"], harness.up_config()
        ready_urls = [f"http://127.0.0.1:{TARGETS[t].http_port}/readyz" for t in HTTP_TARGETS]
    else:
        config = harness.target_config(target, db_url=db_url)
        args = config.args
        ready_urls = [f"http://127.0.0.1:{TARGETS[target].http_port or harness.METRICS_PORT}/readyz"]
    config.env.update(env or {})
    if target == "frontend":
        api_config = harness.target_config("api", db_url=db_url)
        api_config.env["LEADGEN_HTTP_METRICS_PORT"] = str(harness.free_port())
        api = stack.enter_context(harness.run_container(image, api_config.args, api_config, f"{name}-api"))
        api.wait_http("http://127.0.0.1:3000/readyz")
    container = stack.enter_context(harness.run_container(image, args, config, f"{name}-{target}"))
    return container, max(container.wait_http(url) for url in ready_urls)


def measure(image: str, target: str, db_url: str, repeat: int, idle: float) -> Result:
    """Start the target `repeat` times; memory is read on the last start, after `idle` seconds."""
    times: list[float] = []
    cpu: list[float] = []
    memory = harness.Memory(0, 0, 0)
    for attempt in range(repeat):
        with ExitStack() as stack:
            container, ready_after = start_ready(stack, image, target, db_url, "bench")
            times.append(ready_after)
            cpu.append(harness.container_cpu_seconds(container))
            if attempt == repeat - 1:
                time.sleep(idle)
                memory = harness.container_memory(container)
    return Result(target, times, cpu, memory.rss_bytes / MB, memory.pss_bytes / MB, memory.processes)


def container_overhead(image: str, runs: int = 3) -> float:
    """Median wall time of `podman run --rm` of `python -c pass` under the same restrictions."""
    config = harness.brief_config("scheduler")
    times = []
    for attempt in range(runs):
        with harness.pod_mounts({}) as mounts:
            started = time.monotonic()
            options = harness.pod_run_options(f"leadgen-bench-pass-{os.getpid()}-{attempt}", config, mounts)
            harness.podman("run", "--rm", *options, "--entrypoint", "python", image, "-c", "pass")
        times.append(time.monotonic() - started)
    return statistics.median(times)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=harness.DEFAULT_IMAGE)
    parser.add_argument("--no-build", action="store_true", help="measure the image as it is")
    parser.add_argument("--repeat", type=int, default=3, help="starts per target (median reported)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to idle before reading memory")
    parser.add_argument("--targets", default=",".join([*TARGETS, "all"]), help="comma-separated; 'all' = leadgen up")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args()

    with harness.host_lock():  # shared with tests/image: one user of the fixed ports at a time
        if not options.no_build:
            harness.build_image(options.image)
        size_mb = harness.image_size_bytes(options.image) / MB
        busy = [p for p in (3000, 3001, 3002, 8000, 8080, harness.METRICS_PORT) if not harness.port_free(p)]
        if busy:
            print(f"ports {busy} are taken by another process; stop it first", file=sys.stderr)
            return 2
        load_before = os.getloadavg()
        baseline = container_overhead(options.image)
        db_url = harness.recreate_database("leadgen_image_bench")
        migrate = harness.target_config("api", db_url=db_url)
        harness.run_once(options.image, ["db", "upgrade"], migrate, "bench-migrate")
        targets = [t.strip() for t in options.targets.split(",") if t.strip()]
        results = [measure(options.image, t, db_url, options.repeat, options.idle) for t in targets]
        load_after = os.getloadavg()

    print(
        f"\nimage {options.image}: {size_mb:.0f} MB uncompressed (goal < {GOAL_SIZE_MB:.0f}): "
        f"{verdict(size_mb < GOAL_SIZE_MB)}"
    )
    print(f"podman run -> /readyz 200, median of {options.repeat} starts; memory after {options.idle:.0f} s idle")
    print(f"baseline: `podman run` of `python -c pass`, same restrictions: {baseline:.2f} s")
    print(f"load average (1 min) before/after: {load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} CPUs")
    print("cpu s: CPU time the container used until ready (hardly affected by other load)\n")
    header = (
        f"{'target':<13} {'ready s':>8} {'(min-max)':>12} {'cpu s':>6} {'RSS MB':>7} {'PSS MB':>7} {'procs':>5}"
        "  ready<3s  RSS<150MB"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        spread = f"{min(r.ready_seconds):.2f}-{max(r.ready_seconds):.2f}"
        print(
            f"{r.target:<13} {r.ready_median:>8.2f} {spread:>12} {r.cpu_median:>6.2f} {r.rss_mb:>7.0f}"
            f" {r.pss_mb:>7.0f} {r.processes:>5}"
            f"  {verdict(r.ready_median < GOAL_READY_S):<8}  {verdict(r.rss_mb < GOAL_RSS_MB)}"
        )
    print("\n('all' is `leadgen up`: every target in one process with embedded stores; shown for reference.)")
    if options.json:
        payload = {
            "image": options.image,
            "size_mb": size_mb,
            "goals": {"size_mb": GOAL_SIZE_MB, "ready_s": GOAL_READY_S, "rss_mb": GOAL_RSS_MB},
            "load_average": {"before": load_before, "after": load_after, "cpus": os.cpu_count()},
            "podman_run_python_pass_s": baseline,
            "targets": [{**asdict(r), "ready_median": r.ready_median, "cpu_median": r.cpu_median} for r in results],
        }
        options.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
