"""Structured JSON logs with a request id; PII is kept out by construction and by a filter."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Last line of defence: log calls never pass lead contact data, but a stray exception message
# might; e-mail addresses and long digit runs (phone numbers) are masked before output.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<![\w-])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\w-])")


def redact(text: str) -> str:
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redacted(item) for item in value)
    return value


# What every record has; anything else was passed as ``extra`` (Celery passes its task's context).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_TRACEBACKS = logging.Formatter()


class _ContextFilter(logging.Filter):
    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.target = self.target
        try:
            message = record.getMessage()  # arguments of any type, as they will be printed
        except (TypeError, ValueError):
            message = None  # a malformed call: left to the handler's own error report
        if message is not None:
            record.msg, record.args = redact(message), ()
        # A traceback quotes its exception's message, which may be a server's words about a person's
        # address: formatted here, masked, and passed on as text, which every formatter prints.
        if record.exc_info:
            record.exc_text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES:
                setattr(record, name, _redacted(value))
        return True


def log_handler(fmt: str, target: str, stream: TextIO) -> logging.Handler:
    """A handler that writes ``fmt`` (json or text) records of ``target`` to ``stream``, masked."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_ContextFilter(target))
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(target)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(target)s %(name)s: %(message)s"))
    return handler


def configure_logging(level: str, fmt: str, target: str) -> None:
    handler = log_handler(fmt, target, sys.stdout)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what our middleware logs, with client addresses; keep ours.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "celery.redirected"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
