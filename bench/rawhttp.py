"""HTTP/1.1 over raw asyncio streams, for the benchmarks' load generators.

A load generator shares this machine's 2 CPUs with what it measures. httpx spends about a
millisecond of CPU on each request, a good share of what the platform itself spends; writing the
request bytes and reading the response by hand costs a small fraction of that.
Only what the benchmarks need: POST, keep-alive, responses with a Content-Length.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/")

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool
    retry_after: float | None = None  # seconds, from a Retry-After header given in seconds


def post_request(target: Target, headers: list[str], body: bytes) -> bytes:
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"Host: {target.host}:{target.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> Response:
    """Send the request and read the whole response."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    keep = True
    retry_after = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by this client")
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif name == b"retry-after" and value.strip().isdigit():
            retry_after = float(value)
    body = await reader.readexactly(length) if length else b""
    return Response(status, body, keep, retry_after)
