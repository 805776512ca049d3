"""The baseline: a bare FastAPI endpoint that parses the lead's JSON into a dict and returns it.

No validation, no database, no auth: what FastAPI and uvicorn cost on their own for the same
request. Served by ``run.py`` with ``python -m uvicorn echo:app --app-dir bench/intake``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI

app = FastAPI(title="bench echo", docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/api/v1/leads", status_code=202)
async def echo(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return payload


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
