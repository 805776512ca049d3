"""Local stand-ins of the three providers' HTTP APIs, for tests: no network, no key, no model.

Each stand-in is a tiny ``http.server`` app on a free port in a thread that answers the one endpoint
our provider uses, in the response shape of that API's reference:

- OpenAI ``POST /v1/chat/completions``: a ``chat.completion`` object, the answer in
  ``choices[0].message.content``, usage as prompt/completion/total tokens;
- Anthropic ``POST /v1/messages``: a ``message`` object with ``content`` blocks of ``type: text``,
  ``stop_reason`` and input/output token usage;
- Cohere v2 ``POST /v2/chat``: ``id``, ``finish_reason: COMPLETE``, ``message.content`` text items
  and usage as ``billed_units`` and ``tokens``.

Every request is recorded (path, headers, raw body) so tests can check what left the platform.
``answer`` is the model's text; ``model`` the model name the answer reports (by default the one
asked for); ``delay`` makes it slow; ``status`` makes it fail like the real API, with ``error_headers``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD_ANSWER = '{"intent": "comparing", "urgency": "medium", "reason": "asks for a better rate than today"}'


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Shape = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass
class StandIn:
    """One provider API stand-in; subclasses differ only in path, response shape and error shape."""

    path: str
    shape: Shape
    error_shape: Callable[[int], dict[str, Any]]
    answer: str = GOOD_ANSWER
    model: str | None = None
    delay: float = 0.0
    status: int = 200
    # Sent with an error status, as a rate limit sends Retry-After.
    error_headers: dict[str, str] = field(default_factory=dict)
    # How many requests get ``status`` before the stand-in answers again (None: every one).
    failures: int | None = None
    received: list[Recorded] = field(default_factory=list)
    port: int = field(default_factory=_free_port)
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, raw))
                if outer.delay:
                    outer._stop.wait(outer.delay)
                if self.path.split("?")[0] != outer.path:
                    self._send(404, outer.error_shape(404))
                elif outer.status != 200 and (outer.failures is None or len(outer.received) <= outer.failures):
                    self._send(outer.status, outer.error_shape(outer.status), outer.error_headers)
                else:
                    payload = outer.shape(json.loads(raw), outer.answer)
                    if outer.model is not None and "model" in payload:  # Cohere's answer names no model
                        payload["model"] = outer.model
                    self._send(200, payload)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _openai_completion(request: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-standin0001",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 310, "completion_tokens": 24, "total_tokens": 334},
        "service_tier": "default",
        "system_fingerprint": "fp_standin",
    }


def _openai_error(status: int) -> dict[str, Any]:
    return {"error": {"message": "stand-in failure", "type": "server_error", "param": None, "code": None}}


def _anthropic_message(request: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "msg_standin0001",
        "type": "message",
        "role": "assistant",
        "model": request["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 320, "output_tokens": 26},
    }


def _anthropic_error(status: int) -> dict[str, Any]:
    kind = "not_found_error" if status == 404 else "api_error"
    return {"type": "error", "error": {"type": kind, "message": "stand-in failure"}}


def _cohere_chat(request: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
        "usage": {
            "billed_units": {"input_tokens": 305, "output_tokens": 22},
            "tokens": {"input_tokens": 512, "output_tokens": 22},
        },
    }


def _cohere_error(status: int) -> dict[str, Any]:
    return {"message": "stand-in failure"}


def openai_standin() -> StandIn:
    """Stand-in of OpenAI's Chat Completions API."""
    return StandIn("/v1/chat/completions", _openai_completion, _openai_error)


def anthropic_standin() -> StandIn:
    """Stand-in of Anthropic's Messages API."""
    return StandIn("/v1/messages", _anthropic_message, _anthropic_error)


def cohere_standin() -> StandIn:
    """Stand-in of Cohere's v2 Chat API."""
    return StandIn("/v2/chat", _cohere_chat, _cohere_error)
