"""Domain errors and their mapping to RFC 9457 problem details (only the HTTP layer knows codes)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Discriminator
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadgen.core.db import DatabaseUnreachable, is_connection_failure

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
BUSY_RETRY_AFTER_SECONDS = 2
# A restart or a failover takes PostgreSQL away for seconds; a sender retrying sooner finds it gone still.
DATABASE_RETRY_AFTER_SECONDS = 5


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


class PreconditionFailed(DomainError):
    """A change sent for a version of the resource (``If-Match``) that is no longer the stored one."""

    kind = "precondition-failed"


class Unauthorized(DomainError):
    kind = "unauthorized"


class RateLimited(DomainError):
    """Over a rate limit; ``retry_after``: the seconds until it allows the caller again, when known."""

    kind = "rate-limited"

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Gone(DomainError):
    kind = "gone"


class InvalidInput(DomainError):
    kind = "invalid"


class Unavailable(DomainError):
    """A store the answer depends on does not answer; the caller may retry after ``retry_after`` seconds."""

    kind = "unavailable"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


_STATUS = {
    "invalid": (422, "Unprocessable Content"),
    "not-found": (404, "Not Found"),
    "forbidden": (403, "Forbidden"),
    "conflict": (409, "Conflict"),
    "gone": (410, "Gone"),
    "precondition-failed": (412, "Precondition Failed"),
    "unauthorized": (401, "Unauthorized"),
    "rate-limited": (429, "Too Many Requests"),
    "unavailable": (503, "Service Unavailable"),
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError, request: Request) -> list[dict[str, Any]]:
    tag = _union_tag(exc.body, _body_discriminator(request))
    return [_field_error(err, exc.body, tag) for err in exc.errors()]


def _body_discriminator(request: Request) -> str | None:
    """The field whose value picks the member of the request body's discriminated union (``line``
    of a lead), when the body is one and that field is named."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None:
        return None
    info = body_field.field_info
    declared = [info.discriminator, *(item for item in info.metadata if isinstance(item, Discriminator))]
    for discriminator in declared:
        named = discriminator.discriminator if isinstance(discriminator, Discriminator) else discriminator
        if isinstance(named, str):  # not a function of the body, whose tags say nothing of its keys
            return named
    return None


def _union_tag(body: Any, discriminator: str | None) -> str | None:
    """The tag pydantic puts first in the location of an error inside the body's union member: the
    body's value of the discriminator (``auto`` for ``"line": "auto"``)."""
    if discriminator is None or not isinstance(body, Mapping):
        return None
    value = body.get(discriminator)
    return value if isinstance(value, str) else None


def _field_error(err: dict[str, Any], body: Any, tag: str | None = None) -> dict[str, Any]:
    """One error as ``{field, reason}``, the field named by its dotted path in the request body."""
    loc, ctx = tuple(err["loc"]), err.get("ctx") or {}
    if err["type"] == "json_invalid":  # FastAPI puts the character offset where a field would be
        return {"field": "body", "reason": _malformed_json(str(ctx.get("error", "")), loc[-1], body)}
    if not loc or loc[0] != "body":  # a query, path or header parameter
        return {"field": ".".join(str(part) for part in loc), "reason": err["msg"]}
    steps = loc[1:]
    if tag is not None and steps[:1] == (tag,):
        # The union's member, named by its tag: no key of the body, whatever keys the body has.
        steps = steps[1:]
    path = _body_path(steps, body, missing=err["type"] == "missing")
    if "discriminator" in ctx:
        # A discriminated union's tag is missing or unknown: the error is about the tag's field.
        path.append(str(ctx["discriminator"]).strip("'"))
    return {"field": ".".join(path) or "body", "reason": err["msg"]}


def _body_path(loc: Sequence[int | str], body: Any, missing: bool) -> list[str]:
    """The steps of ``loc`` that lead through the body as the sender wrote it (JSON, or a form).

    pydantic also names the member of a plain union it validated against, which is no key of the
    body: such steps are left out. The last step of a missing field is kept, though the body does
    not have it. (The tag of the body's discriminated union is taken off before: ``_field_error``.)
    """
    path: list[str] = []
    node = body
    for depth, step in enumerate(loc):
        in_body = (isinstance(node, Mapping) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        )
        if in_body:
            node = node[step]
        elif not (missing and depth == len(loc) - 1):
            continue
        path.append(str(step))
    return path


def _malformed_json(error: str, offset: Any, document: Any) -> str:
    """Where the JSON breaks, as a person reading the body would look for it."""
    if not isinstance(offset, int) or not isinstance(document, str):
        return f"the body is not valid JSON: {error}"
    line = document.count("\n", 0, offset) + 1
    column = offset - document.rfind("\n", 0, offset)
    return f"the body is not valid JSON: {error} at line {line}, column {column} (character {offset})"


def _unreadable_json(headers: Headers, cause: BaseException | None) -> str | None:
    """Why the JSON parser gave up on a body FastAPI read as JSON, or None when ``cause`` is not such
    a failure. FastAPI makes a 422 of a ``JSONDecodeError`` alone: the parser's other failures (a
    body nested too deeply to read, a number of more digits than Python converts, bytes that are not
    UTF-8) become its field-less 400, though each is JSON that does not parse."""
    content_type = headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        return None  # a form's parse failure, say
    if isinstance(cause, RecursionError):
        return "the body is not valid JSON: it is nested too deeply to read"
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON: it is not UTF-8 text"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return f"the body is not valid JSON: a number has more than {sys.get_int_max_str_digits()} digits"
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status, title = _STATUS[exc.kind]
        extra = {"errors": exc.errors} if exc.errors else {}
        answer = problem(status, title, exc.detail, **extra)
        if isinstance(exc, Unavailable | RateLimited) and exc.retry_after is not None:
            answer.headers["Retry-After"] = str(exc.retry_after)
        return answer

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc, request)
        return problem(422, "Unprocessable Content", f"{len(errors)} field(s) failed validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        unreadable = _unreadable_json(request.headers, exc.__cause__) if exc.status_code == 400 else None
        if unreadable is not None:
            errors = [{"field": "body", "reason": unreadable}]
            return problem(422, "Unprocessable Content", "1 field(s) failed validation", errors=errors)
        return problem(exc.status_code, HTTPStatus(exc.status_code).phrase, str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return problem(409, "Conflict", "the change conflicts with existing data")

    @app.exception_handler(DBAPIError)
    async def _unstorable(_: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22, a data exception: the request carried a value PostgreSQL cannot store
        # or compare (a NUL character in a path, say) that no schema refused first. The statement
        # failed, so nothing changed. A connection that failed (``is_connection_failure``) is the
        # database's outage. Any other database error is a fault of ours: a 500.
        if is_connection_failure(exc):
            return _database_unavailable(exc)
        if not str(getattr(exc.orig, "sqlstate", "")).startswith("22"):
            raise exc
        log.info("data exception: %s", type(exc.orig).__name__)
        return problem(422, "Unprocessable Content", "a value in the request cannot be stored; nothing changed")

    @app.exception_handler(OperationalError)
    async def _unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        return _database_unavailable(exc)

    @app.exception_handler(DatabaseUnreachable)
    async def _unreachable(_: Request, exc: DatabaseUnreachable) -> JSONResponse:
        return _database_unavailable(exc)

    @app.exception_handler(PoolTimeout)
    async def _busy(_: Request, exc: PoolTimeout) -> JSONResponse:
        # Every connection stayed busy for the pool's whole wait: more requests than this process
        # can take now. Nothing was stored; a sender that waits a moment and retries gets through.
        log.warning("no database connection came free in time: answering 503")
        answer = problem(503, "Service Unavailable", "too many requests at once; nothing was stored, retry shortly")
        answer.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return answer


def _database_unavailable(exc: Exception) -> JSONResponse:
    """503 to retry: the database does not answer (down, restarting, or it dropped the connection).
    One line in the log, no traceback: an outage would otherwise fill it with the same one."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc.__cause__ or exc
    log.warning("database unavailable: %s (%s)", type(exc).__name__, type(cause).__name__)
    answer = problem(503, "Service Unavailable", "the database is unavailable; retry later")
    answer.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return answer
