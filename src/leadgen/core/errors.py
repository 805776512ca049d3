"""Domain errors and their mapping to RFC 9457 problem details (only the HTTP layer knows codes)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """Base of expected failures; ``kind`` picks the HTTP status at the edge."""

    kind = "invalid"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    kind = "not-found"


class Forbidden(DomainError):
    kind = "forbidden"


class Conflict(DomainError):
    kind = "conflict"


class Unauthorized(DomainError):
    kind = "unauthorized"


class RateLimited(DomainError):
    kind = "rate-limited"


class InvalidInput(DomainError):
    kind = "invalid"


_STATUS = {
    "invalid": (422, "Unprocessable Content"),
    "not-found": (404, "Not Found"),
    "forbidden": (403, "Forbidden"),
    "conflict": (409, "Conflict"),
    "unauthorized": (401, "Unauthorized"),
    "rate-limited": (429, "Too Many Requests"),
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p not in ("body",)]
        out.append({"field": ".".join(loc), "reason": err["msg"]})
    return out


def add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status, title = _STATUS[exc.kind]
        extra = {"errors": exc.errors} if exc.errors else {}
        return problem(status, title, exc.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        return problem(422, "Unprocessable Content", f"{len(errors)} field(s) failed validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, HTTPStatus(exc.status_code).phrase, str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return problem(409, "Conflict", "the change conflicts with existing data")

    @app.exception_handler(OperationalError)
    async def _unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return problem(503, "Service Unavailable", "the database is unavailable; retry later")
