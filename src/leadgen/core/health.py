"""Liveness, readiness and draining, shared by every process (podinfo's two-probe model)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from leadgen.core.resources import Check

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0


@dataclass
class Health:
    """``/healthz`` says the process runs; ``/readyz`` that its dependencies answer and it is not draining."""

    checks: dict[str, Check] = field(default_factory=dict)
    draining: bool = False
    started: bool = False
    # What of the process stopped working for good (a task consumer that gave up): the process
    # still answers, so liveness must say it is no longer alive.
    failed: str | None = None

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        if self.draining:
            return False, {"process": "draining"}
        if not self.started:
            return False, {"process": "starting"}
        names = list(self.checks)
        results = await asyncio.gather(
            *(asyncio.wait_for(self.checks[n](), CHECK_TIMEOUT_SECONDS) for n in names),
            return_exceptions=True,
        )
        report = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                report[name] = f"down: {type(result).__name__}"
            else:
                report[name] = "ok"
        return all(v == "ok" for v in report.values()), report
