"""A command run in the test's process may set the process's umask (the data directory is its
user's alone): each test here gets the usual one back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)
