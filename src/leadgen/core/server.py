"""Runs one process's targets: HTTP apps, the metrics/probe port, Celery worker and beat.

Shutdown follows the pod lifecycle (podinfo, Loki): on SIGTERM readiness turns 503, we wait
``shutdown_delay_seconds`` so Services stop sending traffic, then drain in-flight requests and
running tasks, then close pools. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from celery import Celery
from celery.beat import Service as BeatService
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leadgen.core.health import Health
from leadgen.core.http import probe_router
from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime, freeze_start_up_objects, name_task_runtime
from leadgen.core.settings import Settings
from leadgen.stores.broker import PIPELINE_QUEUE, create_celery
from leadgen.targets.registry import Target, needs_of

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this module owns the shutdown sequence."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def ops_app(health: Health) -> FastAPI:
    """Port 9090: Prometheus metrics and the probes, away from auth and the edge."""
    app = FastAPI(title="leadgen ops", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(probe_router(health))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # A route, not a mounted app: a mount answers /metrics with a redirect to /metrics/.
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def worker_queues(settings: Settings, targets: list[Target]) -> list[str]:
    names = {t.name for t in targets}
    queues: list[str] = []
    if "worker" in names:
        queues += [q.strip() for q in settings.worker.queues.split(",") if q.strip()]
    if "orchestrator" in names and PIPELINE_QUEUE not in queues:
        queues.append(PIPELINE_QUEUE)
    return queues


@dataclass
class ProcessHost:
    settings: Settings
    targets: list[Target]
    ports: dict[str, int] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    _servers: list[_Server] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _worker: Any = None
    _beat: BeatService | None = None
    _stopping: bool = False
    _loop: asyncio.AbstractEventLoop | None = None
    _failing: asyncio.Future[None] | None = None
    # Non-zero when the process stops because a part of it failed, not because it was asked to.
    exit_code: int = 0

    @property
    def name(self) -> str:
        return "+".join(t.name for t in self.targets) if len(self.targets) < 3 else "all"

    def listening(self) -> dict[str, str]:
        host = self.settings.http.host
        out = {t.name: f"http://{host}:{self.ports.get(t.name, t.http_port)}" for t in self.targets if t.http_port}
        out["metrics"] = f"http://{host}:{self.settings.http.metrics_port}/metrics"
        return out

    async def run(self) -> None:
        resources = Resources.build(self.settings, needs_of(self.targets), self.name)
        await resources.start()
        self.health.checks.update(resources.checks)
        config: dict[str, Any] = {
            "host": self.settings.http.host,
            "log_config": None,
            "access_log": False,
            "timeout_graceful_shutdown": int(self.settings.http.drain_timeout_seconds),
            "lifespan": "on",
            # Behind the gateway, the client's address and scheme arrive in X-Forwarded-* headers.
            "proxy_headers": True,
            "forwarded_allow_ips": self.settings.http.forwarded_allow_ips,
        }
        for target in self.targets:
            if target.http_port is None or target.app_factory is None:
                continue
            app = _load_factory(target.app_factory)(self.settings, resources, self.health)
            port = self.ports.get(target.name, target.http_port)
            self._servers.append(_Server(uvicorn.Config(app, port=port, **config)))
        self._servers.append(
            _Server(uvicorn.Config(ops_app(self.health), port=self.settings.http.metrics_port, **config))
        )
        self._loop = loop = asyncio.get_running_loop()
        self._start_background()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.shutdown()))
        freeze_start_up_objects()
        self.health.started = True
        try:
            await asyncio.gather(*(s.serve() for s in self._servers))
        finally:
            await asyncio.to_thread(self._stop_background)
            await resources.close()

    def _start_background(self) -> None:
        queues = worker_queues(self.settings, self.targets)
        names = {t.name for t in self.targets}
        if not queues and "scheduler" not in names:
            return
        celery = create_celery(self.settings)
        if queues:
            runtime_name = "+".join(name for name in ("orchestrator", "worker") if name in names)
            name_task_runtime(runtime_name, freeze_when_built=True)
            self._worker = _start_worker(celery, queues, self.settings.worker.concurrency)
            self._threads.append(_thread(self._supervised(self._worker.start, "celery-worker"), "celery-worker"))
        if "scheduler" in names:
            self._beat = BeatService(celery, schedule_filename=str(self._beat_file()))
            self._threads.append(_thread(self._supervised(self._beat.start, "celery-beat"), "celery-beat"))

    def _supervised(self, work: Callable[[], object], name: str) -> Callable[[], None]:
        """``work`` in a background thread; should it end while the process is not stopping (Celery
        stops its consumer after an error it cannot recover from), the process fails its liveness
        probe and exits non-zero, so that it is restarted instead of living on without consuming."""

        def run() -> None:
            try:
                work()
            except BaseException:
                log.exception("%s failed", name)
            if self._stopping:
                return
            log.error("%s stopped while the process was running: failing liveness and exiting", name)
            self.health.failed = f"{name} stopped"
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._fail)

        return run

    def _fail(self) -> None:
        self.exit_code = 1
        self._failing = asyncio.ensure_future(self.shutdown())

    def _beat_file(self) -> os.PathLike[str]:
        self.settings.common.data_dir.mkdir(parents=True, exist_ok=True)
        return self.settings.common.data_dir / "celerybeat-schedule"

    def _stop_background(self) -> None:
        self._stopping = True  # the servers may have ended first (a port taken): no thread failed
        if self._beat is not None:
            self._beat.stop()
        if self._worker is not None:
            self._worker.stop(in_sighandler=False)  # warm: running tasks finish
        for thread in self._threads:
            thread.join(self.settings.http.drain_timeout_seconds)
        close_task_runtime()

    async def shutdown(self) -> None:
        if self._stopping:
            log.warning("second signal: exiting now")
            for server in self._servers:
                server.force_exit = True
            os._exit(1)
        self._stopping = True
        self.health.draining = True
        log.info("draining: readiness is 503 for %.1fs before closing", self.settings.http.shutdown_delay_seconds)
        await asyncio.sleep(self.settings.http.shutdown_delay_seconds)
        for server in self._servers:
            server.should_exit = True


def _start_worker(celery: Celery, queues: list[str], concurrency: int) -> Any:
    return celery.WorkController(
        pool_cls="threads",
        concurrency=concurrency,
        queues=queues,
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname=f"leadgen@{os.environ.get('HOSTNAME', 'local')}-{os.getpid()}",
    )


def _thread(target: Any, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _load_factory(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
