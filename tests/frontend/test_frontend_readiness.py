"""The frontend is ready when the api answers its /readyz; a Health shared with the api is safe."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from leadgen.core.health import Health
from leadgen.core.settings import Settings
from leadgen.targets import api as api_target
from leadgen.targets import frontend as frontend_target
from tests.frontend.stack import Platform


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _readyz(app: httpx.ASGITransport) -> httpx.Response:
    async with httpx.AsyncClient(transport=app, base_url="http://testserver") as client:
        return await client.get("/readyz")


class TestReadiness:
    async def test_ready_when_the_api_is(self, platform: Platform) -> None:
        answer = await _readyz(httpx.ASGITransport(app=platform.frontend))
        assert answer.status_code == 200
        assert answer.json()["checks"] == {"api": "ok"}

    async def test_not_ready_while_the_api_is_not(self, settings: Settings) -> None:
        api = api_target.create_app(settings)  # its lifespan never ran: it answers 503 "starting"
        frontend = frontend_target.create_app(settings, transports={"api": httpx.ASGITransport(app=api)})
        async with frontend.router.lifespan_context(frontend):
            answer = await _readyz(httpx.ASGITransport(app=frontend))
        assert answer.status_code == 503
        assert answer.json()["checks"]["api"].startswith("down")

    async def test_not_ready_when_the_api_is_unreachable(self, settings: Settings) -> None:
        port = _closed_port()
        unreachable = Settings(
            common={"data_dir": settings.common.data_dir},
            services={"api_url": f"http://127.0.0.1:{port}", "data_service_url": f"http://127.0.0.1:{port}"},
        )
        frontend = frontend_target.create_app(unreachable)
        async with frontend.router.lifespan_context(frontend):
            answer = await _readyz(httpx.ASGITransport(app=frontend))
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=frontend), base_url="http://testserver"
            ) as browser:
                page = await browser.post("/login", data={})
        assert answer.status_code == 503
        assert answer.json()["checks"] == {"api": "down: ConnectError"}
        assert page.status_code == 403  # no CSRF cookie: refused before any api call

    async def test_a_health_shared_with_the_api_does_not_ask_itself_forever(self, settings: Settings) -> None:
        """`leadgen up` gives every app of the process one Health: the api's /readyz then runs the
        frontend's check, which asks the api's /readyz again. The check must stop there."""
        shared = Health()
        api = api_target.create_app(settings, health=shared)
        async with api.router.lifespan_context(api):
            frontend = frontend_target.create_app(
                settings, health=shared, transports={"api": httpx.ASGITransport(app=api)}
            )
            async with frontend.router.lifespan_context(frontend):
                started = time.monotonic()
                ready, report = await asyncio.wait_for(shared.readiness(), 5)
                elapsed = time.monotonic() - started
                via_api = await _readyz(httpx.ASGITransport(app=api))
        assert ready, report
        assert report["api"] == "ok" and set(report.values()) == {"ok"}
        assert elapsed < 1.5
        assert via_api.status_code == 200


class TestHeaders:
    async def test_pages_are_not_cached_and_cannot_be_framed(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = await browser.get("/login")
            css = await browser.get("/static/app.css")
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "no-store" not in css.headers.get("cache-control", "")

    async def test_unknown_pages_are_pages_too(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await browser.get("/no-such-page")
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
