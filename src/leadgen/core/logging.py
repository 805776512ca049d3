"""Structured JSON logs with a request id; PII is kept out by construction and by masking."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Last line of defence: log calls never pass lead contact data, but a stray exception message
# might. Masked before output: e-mail addresses (with the local parts people have: o'neil,
# smith&jones), North American phone numbers with an extension as intake takes it (x101, ext. 101),
# and numbers from abroad written with their +country code, as opt-outs and erasures take them.
_EMAIL = re.compile(r"[\w!#$%&*+/=?^`~-][\w.!#$%&'*+/=?^`~-]*@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(
    r"(?<![\w-])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?(?![\w-])",
    re.IGNORECASE,
)
_INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+\d(?:[\s.()-]?\d){6,14}(?!\w)")


def redact(text: str) -> str:
    masked = _EMAIL.sub("[email]", text)
    return _INTERNATIONAL_PHONE.sub("[phone]", _PHONE.sub("[phone]", masked))


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    # Rebuilt as plain containers (a namedtuple cannot be rebuilt from a generator): they are only
    # printed, as the JSON formatter would print them anyway.
    if isinstance(value, dict):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))  # printed as its text anyway (an exception, an object of the caller's)


# What every record has; anything else was passed as ``extra`` (Celery passes its task's context).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_TRACEBACKS = logging.Formatter()


def _masked(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of the record with e-mail addresses and phone numbers masked wherever it carries text:
    the message with its arguments of any type, the traceback (its exception's words may be a
    server's about a person's address) and ``extra`` context. The record itself is left as it is
    for any other handler."""
    copy = logging.makeLogRecord(vars(record))
    try:
        message = redact(record.getMessage())
    except Exception as exc:  # a malformed call: printed without its words
        message = f"log message that cannot be formatted ({type(exc).__name__}) at {record.pathname}:{record.lineno}"
    copy.msg, copy.args = message, ()
    if record.exc_info:
        copy.exc_text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)
        copy.exc_info = None  # every formatter prints exc_text instead
    if copy.exc_text:
        copy.exc_text = redact(copy.exc_text)
    if copy.stack_info:
        copy.stack_info = redact(copy.stack_info)
    for name, value in vars(record).items():
        if name not in _RECORD_ATTRIBUTES:
            setattr(copy, name, _redacted(value))
    return copy


class _MaskingJsonFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(_masked(record))


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(_masked(record))


class _ContextFilter(logging.Filter):
    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def filter(self, record: logging.LogRecord) -> bool:
        # An id passed as ``extra`` is kept: it names the request when the context no longer does.
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        record.target = self.target
        return True


class _MaskingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        """The standard report of a failed write prints the record's message and arguments as the
        caller gave them, unmasked; this one names the failure and the logger only."""
        if logging.raiseExceptions and sys.stderr:
            failure = sys.exc_info()[1]
            sys.stderr.write(f"--- logging error: {type(failure).__name__} writing a record of {record.name}\n")


def log_handler(fmt: str, target: str, stream: TextIO) -> logging.Handler:
    """A handler that writes ``fmt`` (json or text) records of ``target`` to ``stream``, masked."""
    handler = _MaskingStreamHandler(stream)
    handler.addFilter(_ContextFilter(target))
    if fmt == "json":
        handler.setFormatter(
            _MaskingJsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(target)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(_MaskingFormatter("%(asctime)s %(levelname)-7s %(target)s %(name)s: %(message)s"))
    return handler


def configure_logging(level: str, fmt: str, target: str) -> None:
    """``level`` for the platform's own loggers; other libraries log at INFO at most verbose. Their
    DEBUG output prints what they send, past any masking of ours: an LLM SDK its whole request with
    the notes, aiosqlite every statement with its parameters, the Neo4j driver every query's."""
    handler = log_handler(fmt, target, sys.stdout)
    wanted = logging.getLevelNamesMapping()[level.upper()]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(wanted, logging.INFO))
    logging.getLogger("leadgen").setLevel(wanted)
    # uvicorn's access log repeats what our middleware logs, with client addresses; keep ours.
    logging.getLogger("uvicorn.access").disabled = True
    # Celery's line as each task is received and beat's as it sends one: three lines every 5 s for the
    # outbox relay alone, saying nothing the metrics do not. A task's failure still logs (ERROR).
    for noisy in ("httpx", "httpcore", "celery.redirected", "celery.beat", "celery.worker.strategy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
