"""Every target started alone as ``leadgen serve --target X``: probes, metrics, readiness, SIGTERM.

Each test starts a real child process against the PostgreSQL and Redis of this machine (a
database of the test's own, migrated with ``leadgen db upgrade``; Redis db 15). To take a
dependency down without touching the real servers, the process reaches them through a
:class:`~tests.targets.processes.TcpProxy` that the test cuts and restores. The frontend needs
only the api, which a stub answering ``/readyz`` stands in for.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from leadgen.targets.registry import API_PEER, BROKER, DB, GRAPH, REDIS, SMTP, TARGETS, VECTORS
from tests.conftest import PG_HOST, PG_PORT, REDIS_URL, require_server, worker_id
from tests.targets.processes import (
    Served,
    StubApi,
    TcpProxy,
    base_env,
    drop_database,
    fresh_database,
    migrate,
    serve,
    serving,
    wait_for,
)

pytestmark = pytest.mark.slow

SHUTDOWN_DELAY_SECONDS = 2.0
DATABASE, REDIS_CHECK, API_CHECK = "database", "redis", "api"


# The readiness check each resource a target needs must add (``leadgen.core.resources``).
CHECK_FOR_NEED = {
    DB: DATABASE,
    REDIS: REDIS_CHECK,
    BROKER: REDIS_CHECK,
    API_PEER: API_CHECK,
    VECTORS: "qdrant",
    GRAPH: "graph",
}
# Those a test can take down; the others (vectors, graph) run embedded in the process here.
SERVERS = (DATABASE, REDIS_CHECK, API_CHECK)


def expected_checks(target: str) -> list[str]:
    """The readiness checks a target must report: exactly those of its own dependencies."""
    needs = TARGETS[target].needs
    unknown = needs - CHECK_FOR_NEED.keys() - {SMTP}
    assert not unknown, f"{target} needs {unknown}: say which readiness check stands for it in CHECK_FOR_NEED"
    return sorted({CHECK_FOR_NEED[need] for need in needs if need in CHECK_FOR_NEED})


@dataclass
class Dependencies:
    env: dict[str, str]
    proxies: dict[str, TcpProxy] = field(default_factory=dict)  # by readiness check name
    stub_api: StubApi | None = None


@contextlib.contextmanager
def dependencies(target: str, tmp_path: Path, *, proxied: bool) -> Iterator[Dependencies]:
    """What ``target`` needs, on the real servers; through cuttable proxies when ``proxied``."""
    checks = expected_checks(target)
    deps = Dependencies(base_env(LEADGEN_DATA_DIR=str(tmp_path / "data")))
    database: str | None = None
    try:
        if DATABASE in checks:
            require_server("PostgreSQL", PG_HOST, PG_PORT)
            database = f"leadgen_target_{worker_id()}_{uuid.uuid4().hex[:8]}"
            url = asyncio.run(fresh_database(database))
            migrate({**deps.env, "LEADGEN_DB_URL": url})
            if proxied:
                deps.proxies[DATABASE] = TcpProxy((PG_HOST, PG_PORT))
                url = f"postgresql+asyncpg://postgres@127.0.0.1:{deps.proxies[DATABASE].port}/{database}"
            deps.env["LEADGEN_DB_URL"] = url
        if REDIS_CHECK in checks:
            redis = urlsplit(REDIS_URL)
            host, port = redis.hostname or "127.0.0.1", redis.port or 6379
            require_server("Redis", host, port)
            if proxied:
                deps.proxies[REDIS_CHECK] = TcpProxy((host, port))
                host, port = "127.0.0.1", deps.proxies[REDIS_CHECK].port
            deps.env["LEADGEN_REDIS_URL"] = f"redis://{host}:{port}{redis.path}"
        if API_CHECK in checks:
            deps.stub_api = StubApi()
            port = deps.stub_api.port
            if proxied:
                deps.proxies[API_CHECK] = TcpProxy(("127.0.0.1", port))
                port = deps.proxies[API_CHECK].port
            deps.env["LEADGEN_SERVICES_API_URL"] = f"http://127.0.0.1:{port}"
        for proxy in deps.proxies.values():
            proxy.restore()
        yield deps
    finally:
        for proxy in deps.proxies.values():
            proxy.cut()
        if deps.stub_api is not None:
            deps.stub_api.close()
        if database is not None:
            asyncio.run(drop_database(database))


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{base}/readyz", timeout=5)
    return response.status_code, response.json()


def unready(base: str) -> Callable[[], dict[str, Any] | None]:
    """A probe for :func:`wait_for`: the /readyz body once it answers 503."""

    def probe() -> dict[str, Any] | None:
        status, body = readiness(base)
        return body if status == 503 else None

    return probe


def all_ready(served: Served, checks: list[str]) -> bool | None:
    """True once every probe port answers 200 with every check ok."""
    want = (200, {"status": "ok", "checks": dict.fromkeys(checks, "ok")})
    return True if all(readiness(base) == want for base in served.bases()) else None


def assert_alive(served: Served) -> None:
    """Liveness never depends on the dependencies: /healthz stays 200 on every probe port."""
    for base in served.bases():
        response = httpx.get(f"{base}/healthz", timeout=5)
        assert (response.status_code, response.json()) == (200, {"status": "ok"}), served.log_tail()


@pytest.mark.parametrize("target", list(TARGETS))
def test_starts_alone_answers_probes_and_metrics_and_drains_on_sigterm(target: str, tmp_path: Path) -> None:
    checks = expected_checks(target)
    with dependencies(target, tmp_path, proxied=False) as deps:
        env = {**deps.env, "LEADGEN_HTTP_SHUTDOWN_DELAY_SECONDS": str(SHUTDOWN_DELAY_SECONDS)}
        served = serve(target, env, tmp_path / "logs", http=TARGETS[target].http_port is not None)
        try:
            served.wait_healthy()
            assert_alive(served)
            for base in served.bases():
                status, body = readiness(base)
                assert status == 200, f"{base}/readyz: {body}\n{served.log_tail()}"
                assert body == {"status": "ok", "checks": dict.fromkeys(checks, "ok")}

            # Prometheus text on the ops port, the leadgen metrics among the process metrics.
            metrics = httpx.get(f"{served.ops}/metrics", timeout=5, follow_redirects=True)
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert "# TYPE process_cpu_seconds_total counter" in metrics.text
            assert "# TYPE leadgen_http_requests_total counter" in metrics.text
            if served.http is not None:
                sample = f'leadgen_http_requests_total{{method="GET",route="/readyz",status="200",target="{target}"}}'
                assert sample in metrics.text

            # SIGTERM: not ready (but alive) for the shutdown delay, then a clean exit.
            sent = time.monotonic()
            served.signal(signal.SIGTERM)
            for base in served.bases():
                body = wait_for(
                    unready(base), SHUTDOWN_DELAY_SECONDS, f"{base}/readyz to answer 503 after SIGTERM", interval=0.05
                )
                assert body == {"status": "unavailable", "checks": {"process": "draining"}}
            assert time.monotonic() - sent < SHUTDOWN_DELAY_SECONDS, "the probes above took the whole delay"
            assert_alive(served)
            code = served.process.wait(60)
            elapsed = time.monotonic() - sent
            assert code == 0, served.log_tail()
            assert elapsed >= SHUTDOWN_DELAY_SECONDS * 0.9, f"exited {elapsed:.2f}s after SIGTERM, before the delay"
        finally:
            if served.alive():
                served.process.kill()
                served.process.wait(10)


@pytest.mark.parametrize("target", list(TARGETS))
def test_readiness_is_503_while_a_dependency_is_down_and_recovers(target: str, tmp_path: Path) -> None:
    checks = expected_checks(target)
    with (
        dependencies(target, tmp_path, proxied=True) as deps,
        serving(target, deps.env, tmp_path / "logs", http=TARGETS[target].http_port is not None) as served,
    ):
        wait_for(lambda: all_ready(served, checks), 30, f"{target} to be ready")
        assert set(deps.proxies) == set(checks) & set(SERVERS)

        for down, proxy in deps.proxies.items():
            proxy.cut()
            for base in served.bases():
                body = wait_for(unready(base), 15, f"{base}/readyz to fail while {down} is down")
                assert body["status"] == "unavailable"
                assert body["checks"][down].startswith("down: "), body
                assert {k: v for k, v in body["checks"].items() if k != down} == {
                    c: "ok" for c in checks if c != down
                }, body
            assert_alive(served)
            proxy.restore()
            wait_for(lambda: all_ready(served, checks), 30, f"{target} to be ready again after {down} came back")

        if deps.stub_api is not None:
            # The api answering but not ready is not ready either, for the frontend.
            deps.stub_api.status = 503
            body = wait_for(unready(served.ops), 15, "frontend to follow the api")
            assert body["checks"] == {API_CHECK: "down: HTTPStatusError"}
            deps.stub_api.status = 200
            wait_for(lambda: all_ready(served, checks), 30, "frontend to be ready again")
        assert served.alive(), served.log_tail()


@pytest.mark.parametrize("target", [t for t in TARGETS if set(expected_checks(t)) & set(SERVERS)])
def test_starts_while_dependencies_are_down_and_becomes_ready_when_they_come_up(target: str, tmp_path: Path) -> None:
    """A pod may start before its database and Redis do: alive, not ready, then ready."""
    checks = expected_checks(target)
    with dependencies(target, tmp_path, proxied=True) as deps:
        for proxy in deps.proxies.values():
            proxy.cut()
        with serving(target, deps.env, tmp_path / "logs", http=TARGETS[target].http_port is not None) as served:
            for base in served.bases():
                status, body = readiness(base)
                assert status == 503, body
                assert set(body["checks"]) == set(checks)
                for name, result in body["checks"].items():
                    assert result.startswith("down: ") if name in deps.proxies else result == "ok", body
            assert_alive(served)
            for proxy in deps.proxies.values():
                proxy.restore()
            wait_for(lambda: all_ready(served, checks), 30, f"{target} to become ready")
            assert served.alive(), served.log_tail()
