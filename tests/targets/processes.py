"""Real ``leadgen serve`` processes for tests, and the stand-ins they depend on.

- :func:`serve` starts ``python -m leadgen serve --target X`` as a child process on free ports,
  with its output in a log file that failure messages quote;
- :class:`TcpProxy` forwards a local port to PostgreSQL or Redis and can be cut and restored,
  which is how a test takes a target's dependency "down" without touching the real server;
- :class:`StubApi` answers ``/readyz`` like the api target, for the frontend, which needs nothing else;
- :func:`fresh_database` / :func:`drop_database` / :func:`migrate` give a test its own
  PostgreSQL database, migrated with ``leadgen db upgrade``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx

from tests.conftest import PG_HOST, PG_PORT, postgres_url

T = TypeVar("T")
STARTUP_SECONDS = 60.0
# Runs first in the child: on Linux, ask for SIGKILL when the test process dies (even by SIGKILL,
# when no ``finally`` runs), then become the real command. The setting survives exec.
_DIE_WITH_PARENT = """
import os, sys
if sys.platform == "linux":
    import ctypes, signal
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[1]):
        sys.exit("the test process is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Call ``probe`` until it returns something other than None; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
        except (httpx.HTTPError, OSError) as exc:
            result, last_error = None, exc
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})")
        time.sleep(interval)


# --- PostgreSQL databases ---------------------------------------------------------------------


async def fresh_database(name: str) -> str:
    """Drop and create ``name``; returns its SQLAlchemy URL."""
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return postgres_url(name)


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def migrate(env: dict[str, str]) -> None:
    """``leadgen db upgrade`` for the database named by ``env['LEADGEN_DB_URL']``."""
    done = subprocess.run(
        [sys.executable, "-m", "leadgen", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"leadgen db upgrade failed:\n{done.stdout}\n{done.stderr}"


# --- leadgen processes --------------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    """This test's environment (``clean_environment`` removed the shell's LEADGEN_*), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADGEN_")}
    env.update({k: v for k, v in os.environ.items() if k in ("LEADGEN_DATA_DIR", "LEADGEN_SECRETS_DIR")})
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Served:
    """One running ``leadgen serve`` process and where it listens."""

    target: str
    process: subprocess.Popen[bytes]
    ops_port: int
    http_port: int | None
    log_path: Path

    @property
    def ops(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    @property
    def http(self) -> str | None:
        return None if self.http_port is None else f"http://127.0.0.1:{self.http_port}"

    def bases(self) -> list[str]:
        """Every base URL that serves the probes: the ops port, and the HTTP port if any."""
        return [self.ops] + ([self.http] if self.http else [])

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_healthy(self, timeout: float = STARTUP_SECONDS) -> None:
        def probe() -> bool | None:
            if not self.alive():
                raise AssertionError(
                    f"{self.target} exited with {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            codes = [httpx.get(f"{base}/healthz", timeout=2).status_code for base in self.bases()]
            return True if all(c == 200 for c in codes) else None

        wait_for(probe, timeout, f"{self.target} to answer /healthz")

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.process.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)


def serve(target: str, env: dict[str, str], log_dir: Path, *, http: bool = True, label: str = "") -> Served:
    """Start ``leadgen serve --target target`` on free ports (``--port`` and the ops port)."""
    ops_port = free_port()
    http_port = free_port() if http else None
    args = [sys.executable, "-m", "leadgen", "serve", "--target", target]
    if http_port is not None:
        args += ["--port", str(http_port)]
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{target}{label}-{ops_port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *args],
            env={**env, "LEADGEN_HTTP_METRICS_PORT": str(ops_port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Served(target, process, ops_port, http_port, log_path)


@contextlib.contextmanager
def serving(target: str, env: dict[str, str], log_dir: Path, *, http: bool = True, label: str = "") -> Iterator[Served]:
    """:func:`serve`, waited until healthy, and always stopped (killed if need be) afterwards."""
    served = serve(target, env, log_dir, http=http, label=label)
    try:
        served.wait_healthy()
        yield served
    finally:
        if served.alive():
            served.process.kill()
            served.process.wait(10)


# --- stand-ins for dependencies -----------------------------------------------------------------


def free_port_outside_ephemeral_range() -> int:
    """A free port the kernel never hands out as a client's source port.

    A proxy that is cut and restored must get its port back; a port from the ephemeral range may
    meanwhile have become the source port of some outgoing connection (EADDRINUSE on restore).
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.Random().sample(range(10000, min(low, 30000)), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


@dataclass
class TcpProxy:
    """127.0.0.1:<port> forwarded to ``upstream``.

    :meth:`cut` closes the listener (new connections are refused) and every open connection
    (pooled clients see them drop); :meth:`restore` listens on the same port again.
    """

    upstream: tuple[str, int]
    port: int = field(default_factory=lambda: free_port_outside_ephemeral_range())
    _listener: socket.socket | None = None
    _connections: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Listening from the start holds the port: a second proxy choosing a port before this one
        # listened could otherwise pick the same one.
        self.restore()

    def restore(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Connections the cut closed may still hold the port for a moment (the peer's close
        # arrives later); wait for it rather than fail.
        deadline = time.monotonic() + 15
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.2)
        listener.listen(128)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name=f"proxy-{self.port}", daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            _close(conn)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=2)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._connections.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(source)
                self._connections.discard(sink)
            _close(source)
            _close(sink)


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


class StubApi:
    """Answers ``GET /readyz`` with :attr:`status`, like the api target; 404 for anything else."""

    def __init__(self) -> None:
        self.status = 200
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = stub.status if self.path == "/readyz" else 404
                body = b'{"status":"ok"}' if code == 200 else b'{"status":"unavailable"}'
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="stub-api", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
