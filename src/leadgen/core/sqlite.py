"""The settings every SQLite file of the embedded stores opens with, said once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

_WAL_RETRY_PAUSE_S = 0.01


def configure_connection(execute: Callable[[str], object], *, busy_timeout_ms: int, durable: bool = False) -> None:
    """Writers wait for each other instead of failing; readers run beside the one writer (WAL).

    ``busy_timeout`` comes first, so every later statement waits for locks. The switch to WAL still
    needs its own retry: when two connections open a new file at the same moment, both hold the read
    lock and want the exclusive one, and SQLite answers one of them "database is locked" at once,
    without calling its busy handler, to break the deadlock. The mode is stored in the file, so the
    retry finds it switched. ``synchronous=NORMAL``: a power cut may lose the last commits, never
    corrupt the file; what the other stores rebuild from the database may. With ``durable`` (the
    database itself), ``FULL``: a commit is on disk before it returns, as a lead answered 202 must be.
    """
    execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_PAUSE_S)
    execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
    execute("PRAGMA foreign_keys = ON")
