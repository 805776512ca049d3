"""Every public route of every HTTP target is reachable through the Gateway, at the right Service.

The Gateway routes by path prefix; a route added to a target without its prefix in the HTTPRoutes
would answer locally and 404 in a cluster. This reads each FastAPI app's routes and resolves them
the way the Gateway does (the longest matching prefix wins).
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from fastapi.routing import APIRoute

from leadgen.core.settings import Settings
from leadgen.targets.registry import TARGETS
from tests.k8s.render import of_kind, overlay

UNROUTED = ("/healthz", "/readyz", "/docs", "/redoc", "/openapi.json", "/static")


def app_paths(target: str) -> list[str]:
    factory = TARGETS[target].app_factory
    assert factory is not None
    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)(Settings())
    paths: set[str] = set()
    for route in app.routes:
        # FastAPI keeps an included router whole and resolves its routes' paths on demand.
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        paths.update(c.path for c in contexts if isinstance(getattr(c, "original_route", c), APIRoute))
    found = sorted(p for p in paths if not p.startswith(UNROUTED))
    assert found, f"no API routes found in {target}: the walk over the app's routes is broken"
    return found


def prefixes(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(path prefix, Service name) for every rule of every HTTPRoute."""
    out: list[tuple[str, str]] = []
    for route in of_kind(resources, "HTTPRoute"):
        for rule in route["spec"].get("rules", []):
            services = [ref["name"] for ref in rule.get("backendRefs", [])]
            for match in rule.get("matches", [{"path": {"value": "/"}}]):
                out.extend((match["path"]["value"], service) for service in services)
    return out


def resolve(path: str, table: list[tuple[str, str]]) -> str | None:
    matching = [(p, s) for p, s in table if path == p or path.startswith(p.rstrip("/") + "/") or p == "/"]
    return max(matching, key=lambda m: len(m[0]))[1] if matching else None


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("target", ["api", "data-service", "orchestrator", "backend"])
def test_every_api_route_reaches_its_target(env: str, target: str) -> None:
    table = prefixes(overlay(env))
    wrong = {path: resolve(path, table) for path in app_paths(target) if resolve(path, table) != target}
    assert not wrong, f"{env}: routes of {target} that the Gateway sends elsewhere: {wrong}"
