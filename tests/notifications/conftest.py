"""A real local SMTP server (aiosmtpd) that keeps what arrives and from which connection; a
stand-in of Twilio's Messages API (the SMS provider is the one thing that cannot exist here, so a
local HTTP server speaking the same API stands in); settings that use both, and a lead routed with
them."""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.models import Lead
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.peers: list[tuple[str, int]] = []  # the client end of the connection each message came over
        self.no_such_mailbox: set[str] = set()  # addresses refused with 550, as a real server would
        self.busy: set[str] = set()  # addresses answered 451 (try again later), as a busy server would

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.no_such_mailbox:
            return "550 5.1.1 no such mailbox"
        if address in self.busy:
            return "451 4.3.2 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.peers.append(session.peer)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


INSIDE_WINDOW = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # 10:00 in Houston, 9:00 in El Paso


class SmsStandIn:
    """Records what a Twilio-compatible provider would have received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.unavailable_for: set[str] = set()  # numbers it answers 503 for, as a provider outage would
        self.invalid: set[str] = set()  # numbers it refuses with 400, as for a number that cannot get texts
        # Numbers whose owner replied STOP to ours: refused with 400 and the provider's code 21610.
        self.unsubscribed: set[str] = set()
        self.refused: list[str] = []  # the numbers of the requests it refused, in order
        # While set, every request is refused with this status (401, 403) and error 20003, as
        # Twilio answers an account whose token was rotated or mistyped.
        self.credentials_refused: int | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                auth = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                to = form["To"]
                refusal = 503 if to in outer.unavailable_for else 400 if to in outer.invalid | outer.unsubscribed else 0
                refusal = outer.credentials_refused or refusal
                if refusal:
                    outer.refused.append(to)
                    if outer.credentials_refused:
                        error = {"code": 20003, "message": "Authenticate", "status": refusal}
                    else:
                        error = {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}
                    refused = (
                        json.dumps(error).encode() if outer.credentials_refused or to in outer.unsubscribed else b""
                    )
                    self.send_response(refusal)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(refused)))
                    self.end_headers()
                    self.wfile.write(refused)
                    return
                outer.received.append({"path": self.path, "auth": auth, **form})
                payload = json.dumps({"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def sms() -> Iterator[SmsStandIn]:
    stand_in = SmsStandIn()
    yield stand_in
    stand_in.server.shutdown()


@pytest.fixture
def notify_env(
    settings_env: dict[str, str], mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("LEADGEN_SMTP_PORT", str(mailbox[1]))
    monkeypatch.setenv("LEADGEN_SMS_API_URL", sms.url)
    monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("LEADGEN_SMS_AUTH_TOKEN", "token-456")
    monkeypatch.setenv("LEADGEN_SMS_FROM_NUMBER", "+15125550100")
    get_settings.cache_clear()
    yield get_settings()
    close_task_runtime()


@pytest.fixture
async def routed(notify_env: Settings, session: AsyncSession, resources: Resources) -> AsyncIterator[Lead]:
    agent = await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    agent.phone = "+15125550111"
    yield await processed(notify_env, session, resources, lead_payload())


async def processed(settings: Settings, session: AsyncSession, resources: Resources, payload: dict[str, Any]) -> Lead:
    """A lead submitted through the API and run through the pipeline inside the contact window."""
    key = await helpers.api_key(session)
    await session.commit()
    async for client in started(create_app(settings)):
        response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    lead_id = uuid.UUID(response.json()["id"])
    await sync_graph(resources)
    async with resources.unit_of_work() as s:
        await process_lead(s, pipeline_for(resources), lead_id, INSIDE_WINDOW)
    lead = await session.get(Lead, lead_id, populate_existing=True)
    assert lead is not None
    return lead
