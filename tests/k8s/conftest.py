"""Fixtures of the Kubernetes manifest suite: renders are produced once, in parallel."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from .render import DEPLOYABLE, K8S, is_component, kustomization_dirs, render_text


@pytest.fixture(scope="session", autouse=True)
def _prerender() -> Iterator[None]:
    """Render every kustomization once, concurrently (kubectl kustomize takes seconds each)."""
    targets = list(DEPLOYABLE) + [str(d.relative_to(K8S)) for d in kustomization_dirs() if not is_component(d)]

    def attempt(relative: str) -> None:
        try:
            render_text(relative)
        except Exception:
            return

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(attempt, dict.fromkeys(targets)))
    yield
