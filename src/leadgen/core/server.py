"""Runs one process's targets: HTTP apps, the metrics/probe port, Celery worker and beat, and for
``leadgen up`` an SMTP server that keeps the e-mail it sends.

Every port is bound before anything else happens (``up`` migrates next), so that one another
program holds stops the process at once, named, rather than after start-up.

Shutdown follows the pod lifecycle (podinfo, Loki): on SIGTERM readiness turns 503, we wait
``shutdown_delay_seconds`` so Services stop sending traffic, then drain in-flight requests and
running tasks, then close pools. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import logging
import os
import signal
import smtplib
import socket
import threading
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from celery import Celery
from celery.beat import Service as BeatService
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leadgen.core.health import Health
from leadgen.core.http import probe_router
from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime, freeze_start_up_objects, name_task_runtime
from leadgen.core.settings import LOOPBACK_HOSTS, Settings, SmtpSettings
from leadgen.stores.broker import PIPELINE_QUEUE, create_celery
from leadgen.targets.registry import Target, needs_of

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP

log = logging.getLogger(__name__)
METRICS = "metrics"
MAIL = "mail"
# How long a server found on the SMTP port has to greet before it is taken for something else.
GREETING_SECONDS = 2.0


class _Server(uvicorn.Server):
    """uvicorn on a socket bound beforehand, without its own signal handling (this module owns the
    shutdown sequence), calling ``on_started`` once it listens."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self.socket = sock
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


class PortsUnavailable(Exception):
    """What keeps this process from listening where it should, in one line for whoever started it."""


def bind_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, not listening yet. With SO_REUSEADDR, as uvicorn binds:
    a port left with connections in TIME_WAIT by a process that stopped is free; one that another
    program listens on is not."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except BaseException:
        sock.close()
        raise
    return sock


def _cannot_listen(host: str, port: int, name: str, exc: OSError | OverflowError) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot listen on {host}:{port} ({name}): {reason}"


def _in_use(ports: dict[str, int], remedy: str) -> str:
    """``ports`` (by what would listen there) taken by other programs, and what to do, in a sentence."""
    named = " and ".join(f"{port} ({name})" for name, port in ports.items())
    if len(ports) == 1:
        return f"port {named} is in use: stop what uses it, or {remedy}"
    return f"ports {named} are in use: stop what uses them, or {remedy}"


@dataclass
class MailRoute:
    """Where the e-mail of ``leadgen up`` goes, as its banner says; with ``socket`` (bound) and
    ``maildir``, to an SMTP server of its own that keeps every message there."""

    description: str
    socket: socket.socket | None = None
    maildir: Path | None = None


def mail_route(smtp: SmtpSettings, maildir: Path) -> MailRoute:
    """Where ``leadgen up`` sends its e-mail. A laptop has no mail server: with loopback SMTP settings
    and nothing on their port, every offer and alert would fail at each retry, so ``up`` listens there
    itself and keeps each message in ``maildir``. An SMTP server already on that port (MailHog,
    Mailpit) is used instead; a server elsewhere, or one that wants a login or TLS, is the user's own.
    Raises :class:`PortsUnavailable` when something other than an SMTP server holds the port."""
    where = f"{smtp.host}:{smtp.port}"
    if smtp.host not in LOOPBACK_HOSTS or smtp.username or smtp.starttls:
        return MailRoute(f"sent to {where}")
    try:
        sock = bind_port(smtp.host, smtp.port)
    except (OSError, OverflowError) as exc:
        if not (isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE):
            raise PortsUnavailable(_cannot_listen(smtp.host, smtp.port, MAIL, exc)) from None
        if _greets_as_smtp(smtp.host, smtp.port):
            return MailRoute(f"sent to the SMTP server already listening on {where}")
        raise PortsUnavailable(
            f"port {smtp.port} ({MAIL}) is in use by something that is not an SMTP server: stop it, "
            "or set LEADGEN_SMTP_PORT to a free port (or to an SMTP server's)"
        ) from None
    return MailRoute(
        f"kept in {maildir} (a Maildir: open it with any mail client, e.g. mutt -f {maildir}, "
        "or read the files in its new/ folder)",
        sock,
        maildir,
    )


def _greets_as_smtp(host: str, port: int) -> bool:
    try:
        with smtplib.SMTP(host, port, timeout=GREETING_SECONDS) as client:
            client.noop()
    except (OSError, smtplib.SMTPException):
        return False
    return True


async def _serve_mail(route: MailRoute) -> tuple[asyncio.Server, weakref.WeakSet[SMTP]]:
    """An SMTP server on ``route.socket`` that keeps each message in ``route.maildir``, in this event
    loop (aiosmtpd's Controller would run its own in a thread); the sessions it has open, for
    :func:`_close_mail`. aiosmtpd is imported here: only ``up`` runs it."""
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP

    assert route.socket is not None and route.maildir is not None
    # aiosmtpd logs every command of every session at INFO; the Maildir is the record of what came.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = Mailbox(route.maildir)
    loop = asyncio.get_running_loop()
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def session() -> SMTP:
        # A fixed name: aiosmtpd would otherwise look up this machine's FQDN for each connection.
        smtp = SMTP(handler, hostname="leadgen.local", enable_SMTPUTF8=True, loop=loop)
        sessions.add(smtp)
        return smtp

    return await loop.create_server(session, sock=route.socket), sessions


async def _close_mail(server: asyncio.Server, sessions: weakref.WeakSet[SMTP]) -> None:
    """Stop listening and end the sessions still open (the notification senders keep theirs between
    messages), which ``wait_closed`` would otherwise wait for."""
    server.close()
    for smtp in list(sessions):
        if smtp.transport is not None:
            smtp.transport.close()
    await server.wait_closed()


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
    # Ports given for targets (serve --port); the others are the targets' own plus the offset.
    ports: dict[str, int] = field(default_factory=dict)
    # ``up``: run an SMTP server that keeps the e-mail sent when the SMTP settings are loopback ones.
    keep_mail: bool = False
    health: Health = field(default_factory=Health)
    _sockets: dict[str, socket.socket] = field(default_factory=dict)
    _mail: MailRoute | None = None
    _on_listening: Callable[[], None] = lambda: None
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

    def listen_ports(self) -> dict[str, int]:
        """Each port this process serves HTTP on, by what listens there (a target, or metrics)."""
        offset = self.settings.http.port_offset
        out = {t.name: self.ports.get(t.name, t.http_port + offset) for t in self.targets if t.http_port}
        out[METRICS] = self.settings.http.metrics_port + offset
        return out

    def listening(self) -> dict[str, str]:
        """What the process serves where, for its banner; the mail line once :meth:`bind` chose."""
        host = self.settings.http.host
        out = {name: f"http://{host}:{port}" for name, port in self.listen_ports().items()}
        out[METRICS] += "/metrics"
        if self._mail is not None:
            out[MAIL] = self._mail.description
        return out

    def bind(self) -> None:
        """Bind every port this process will listen on, before it changes anything: raises
        :class:`PortsUnavailable` naming every one it cannot have, with what would have listened there."""
        host = self.settings.http.host
        taken: dict[str, int] = {}
        unusable: list[str] = []
        for name, port in self.listen_ports().items():
            try:
                self._sockets[name] = bind_port(host, port)
            except (OSError, OverflowError) as exc:
                if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
                    taken[name] = port
                else:
                    unusable.append(_cannot_listen(host, port, name, exc))
        problems: list[str] = []
        if moved := {name: port for name, port in taken.items() if name not in self.ports}:
            problems.append(
                _in_use(
                    moved,
                    f"set LEADGEN_HTTP_PORT_OFFSET={self.settings.http.port_offset + 100} to listen on "
                    f"{' and '.join(str(port + 100) for port in moved.values())} "
                    "(and on every other port 100 higher)",
                )
            )
        if given := {name: port for name, port in taken.items() if name in self.ports}:
            problems.append(_in_use(given, "choose another with --port"))
        problems += unusable
        if self.keep_mail:
            try:
                self._mail = mail_route(self.settings.smtp, self.settings.common.data_dir / MAIL)
            except PortsUnavailable as exc:
                problems.append(str(exc))
        if problems:
            self._close_sockets()
            raise PortsUnavailable("; ".join(problems))

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
        if self._mail is not None and self._mail.socket is not None:
            self._mail.socket.close()
        self._mail = None

    def _server_started(self) -> None:
        if all(server.started for server in self._servers):
            self._on_listening()

    async def run(self, on_listening: Callable[[], None] = lambda: None) -> None:
        """Serve until shut down; ``on_listening`` is called once every HTTP server listens."""
        if not self._sockets:
            self.bind()
        self._on_listening = on_listening
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
            self._serve_on(target.name, app, config)
        self._serve_on(METRICS, ops_app(self.health), config)
        self._loop = loop = asyncio.get_running_loop()
        mail = self._mail
        # Before the worker starts: the first message it sends finds the server listening.
        mail_server = await _serve_mail(mail) if mail is not None and mail.socket is not None else None
        self._start_background()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.shutdown()))
        freeze_start_up_objects()
        self.health.started = True
        try:
            await asyncio.gather(*(s.serve(sockets=[s.socket]) for s in self._servers))
        finally:
            await asyncio.to_thread(self._stop_background)
            if mail_server is not None:  # after the worker: a task draining may still send a message
                await _close_mail(*mail_server)
            await resources.close()

    def _serve_on(self, name: str, app: Any, config: dict[str, Any]) -> None:
        sock = self._sockets[name]
        port = sock.getsockname()[1]
        self._servers.append(_Server(uvicorn.Config(app, port=port, **config), sock, self._server_started))

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
