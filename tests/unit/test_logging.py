"""The log filter masks e-mail addresses and phone numbers wherever a record carries them."""

from __future__ import annotations

import io
import json
import logging
import smtplib
from collections.abc import Iterator

import pytest

from leadgen.core.logging import log_handler

ADDRESS = "dana.doe@example.com"
PHONE = "+1 512-555-0199"


@pytest.fixture(params=["json", "text"])
def logged(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, io.StringIO, str]]:
    stream = io.StringIO()
    logger = logging.getLogger(f"leadgen.test.masking.{request.param}")
    logger.propagate = False
    logger.handlers[:] = [log_handler(request.param, "test", stream)]
    yield logger, stream, request.param
    logger.handlers.clear()


def test_a_traceback_and_extra_context_are_masked_like_the_message(
    logged: tuple[logging.Logger, io.StringIO, str],
) -> None:
    """As Celery logs a task that failed for good: the exception's words, with ``extra`` context."""
    logger, stream, fmt = logged
    refused = smtplib.SMTPRecipientsRefused({ADDRESS: (452, f"4.2.2 {ADDRESS} is over quota".encode())})
    try:
        raise refused
    except smtplib.SMTPRecipientsRefused:
        args = [f"call {PHONE}"]
        context = {"exc": repr(refused), "args": args, "id": "task-1"}
        logger.error("Task %s%r raised unexpected: %r", "notify", args, refused, exc_info=True, extra={"data": context})
    output = stream.getvalue()
    assert ADDRESS not in output and "555-0199" not in output
    assert "[email]" in output and "[phone]" in output
    assert "SMTPRecipientsRefused" in output and "Traceback" in output  # still a useful log
    if fmt == "json":
        record = json.loads(output)
        assert record["data"] == {
            "exc": repr(refused).replace(ADDRESS, "[email]"),
            "args": ["call [phone]"],
            "id": "task-1",
        }
        assert "[email]" in record["exc_info"]
