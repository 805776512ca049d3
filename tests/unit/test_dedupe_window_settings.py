"""LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS_BY_LINE: line=days pairs, every mistake named at start-up."""

from __future__ import annotations

import pytest

from leadgen.core.settings import ConfigError, Settings
from leadgen.leads.lifecycle import Line

NAME = "LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS_BY_LINE"


def test_no_line_has_a_window_of_its_own_by_default() -> None:
    intake = Settings().intake
    assert (intake.dedupe_window_days, intake.dedupe_window_days_by_line) == (30, {})


@pytest.mark.parametrize(
    ("value", "windows"),
    [
        ("auto=30,life=90", {Line.AUTO: 30, Line.LIFE: 90}),
        (" Life = 365 , home=0, ", {Line.LIFE: 365, Line.HOME: 0}),
        ("", {}),
    ],
)
def test_line_equals_days_pairs_are_read(monkeypatch: pytest.MonkeyPatch, value: str, windows: dict[Line, int]) -> None:
    monkeypatch.setenv(NAME, value)
    assert Settings().intake.dedupe_window_days_by_line == windows


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("boat=30", "'boat' is not a line (auto, home, life, health, commercial)"),
        ("auto=30,life", "'life' is not line=days"),
        ("life=ninety", "'life=ninety': the days must be a whole number from 0 to 3650"),
        ("life=-1", "'life=-1': the days must be a whole number from 0 to 3650"),
        ("life=3651", "'life=3651': the days must be a whole number from 0 to 3650"),
        ("life=90,auto=30,life=30", "life is given twice"),
    ],
)
def test_a_bad_line_or_number_of_days_is_named(monkeypatch: pytest.MonkeyPatch, value: str, error: str) -> None:
    monkeypatch.setenv(NAME, value)
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert caught.value.problems == [f"{NAME}: Value error, {error}"]
