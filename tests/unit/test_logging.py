"""The log filter masks e-mail addresses and phone numbers wherever a record carries them."""

from __future__ import annotations

import io
import json
import logging
import smtplib
from collections import namedtuple
from collections.abc import Iterator

import pytest

from leadgen.core.logging import configure_logging, log_handler, redact, request_id_var

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


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_malformed_call_or_odd_context_is_logged_without_raising_or_leaking(fmt: str) -> None:
    """Straight to the handler: pytest's own log capture fails a test on a malformed call."""
    stream = io.StringIO()
    Pair = namedtuple("Pair", "name phone")
    record = logging.makeLogRecord(
        {
            "msg": "%(missing)s for " + ADDRESS,
            "args": {"present": 1},
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "pair": Pair("Dana", PHONE),
        }
    )
    log_handler(fmt, "test", stream).handle(record)
    output = stream.getvalue()
    assert "log message that cannot be formatted (KeyError)" in output and ADDRESS not in output
    assert "555-0199" not in output


def test_other_handlers_get_the_record_as_it_was(logged: tuple[logging.Logger, io.StringIO, str]) -> None:
    logger, _, _ = logged
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Keep())
    try:
        raise ValueError(ADDRESS)
    except ValueError:
        logger.exception("failed for %s", ADDRESS)
    assert seen[0].exc_info is not None and seen[0].getMessage() == f"failed for {ADDRESS}"


def test_objects_in_the_context_are_masked_as_they_print(logged: tuple[logging.Logger, io.StringIO, str]) -> None:
    logger, stream, fmt = logged
    logger.warning("lookup failed", extra={"error": ValueError(f"no such number {PHONE}"), "by": {ADDRESS: 1}})
    if fmt == "json":
        record = json.loads(stream.getvalue())
        assert record["error"] == "no such number [phone]" and record["by"] == {"[email]": 1}


def test_a_failed_write_is_reported_without_the_record_s_words(capsys: pytest.CaptureFixture[str]) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BlockingIOError("stdout is full")

    record = logging.makeLogRecord({"msg": "could not send to %s", "args": (ADDRESS,), "name": "leadgen.mail"})
    log_handler("json", "test", Broken()).handle(record)
    reported = capsys.readouterr().err
    assert "BlockingIOError" in reported and "leadgen.mail" in reported and ADDRESS not in reported


def test_a_request_id_given_with_the_record_is_kept_and_the_request_s_fills_in_otherwise() -> None:
    stream = io.StringIO()
    handler = log_handler("json", "test", stream)
    token = request_id_var.set("the-request")
    try:
        for extra in ({"request_id": "named-by-the-caller"}, {}):
            handler.handle(logging.makeLogRecord({"msg": "line", "levelname": "INFO", **extra}))
    finally:
        request_id_var.reset(token)
    assert [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == [
        "named-by-the-caller",
        "the-request",
    ]


@pytest.mark.parametrize(
    "said",
    [
        "5125550142x101",  # an extension as intake takes it
        "512-555-0142 ext. 101",
        "+44 20 7946 0958",  # a number from abroad, as opt-outs and erasures take it
        "o'neil.family@example.com",
        "smith&jones@example.co.uk",
    ],
)
def test_extensions_numbers_from_abroad_and_unusual_addresses_are_masked(said: str) -> None:
    assert redact(f"could not reach {said}: refused") in (
        "could not reach [phone]: refused",
        "could not reach [email]: refused",
    )


@pytest.mark.parametrize(
    "said", ["at 2026-11-27 21:45:32+00:00", "lead 0b4e2c1a-1234-4567-8910-111213141516", "12345 of 1234567 rows"]
)
def test_times_ids_and_counts_are_not_taken_for_phone_numbers(said: str) -> None:
    assert redact(said) == said


def test_debug_is_the_platform_s_own_other_libraries_log_at_info_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    """An SDK's or a database driver's debug lines print what they send (a prompt with the notes,
    a statement's parameters), which no masking of e-mail addresses and numbers covers."""
    root, own = logging.getLogger(), logging.getLogger("leadgen")
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(own, "level", own.level)
    configure_logging("DEBUG", "json", "test")
    assert logging.getLogger("leadgen.pipeline.service").isEnabledFor(logging.DEBUG)
    for library in ("anthropic._base_client", "aiosqlite", "neo4j.io"):
        assert not logging.getLogger(library).isEnabledFor(logging.DEBUG), library
        assert logging.getLogger(library).isEnabledFor(logging.INFO), library
    configure_logging("WARNING", "json", "test")
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.INFO)
    assert not logging.getLogger("leadgen.pipeline.service").isEnabledFor(logging.INFO)


def test_celerys_line_per_task_received_and_sent_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbox relay runs every 5 s: beat's "Sending due task" and the worker's "Received task"
    would be two lines each time, in every pod; a task's failure is still logged."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    for name in ("leadgen", "celery.beat", "celery.worker.strategy", "httpx", "httpcore", "celery.redirected"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    configure_logging("INFO", "json", "test")
    for chatter in ("celery.beat", "celery.worker.strategy"):
        assert not logging.getLogger(chatter).isEnabledFor(logging.INFO), chatter
    assert logging.getLogger("celery.app.trace").isEnabledFor(logging.ERROR)
