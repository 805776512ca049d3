"""The dashboard's calls to its peers carry passwords and tokens: they never go through a proxy
that the environment names for other calls (an LLM provider's egress)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from leadgen.core.settings import Settings
from leadgen.frontend.client import Peers


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def api_peer() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_peers_are_called_directly_whatever_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api_peer: str
) -> None:
    # Nothing listens on port 1: a call sent to this proxy fails at once.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:1")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(common={"data_dir": tmp_path}, services={"api_url": api_peer})
    peers = Peers.create(settings)
    try:
        await peers.api_ready("request-1")
    finally:
        await peers.aclose()
