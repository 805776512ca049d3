"""What a source's price per lead may be, as the API and the CLI both check it."""

from __future__ import annotations

import pytest

from leadgen.sources.rules import MAX_PRICE_CENTS, dollars, price_problem


@pytest.mark.parametrize("cents", [0, 1, 1500, MAX_PRICE_CENTS])
def test_a_price_from_nothing_to_the_bound_is_allowed(cents: int) -> None:
    assert price_problem(cents) is None


@pytest.mark.parametrize("cents", [-1, MAX_PRICE_CENTS + 1, 150_000_00])
def test_a_price_below_nothing_or_over_the_bound_is_refused_with_the_bound(cents: int) -> None:
    assert price_problem(cents) == "a price per lead is 0 to 100000 cents ($1,000.00)"


def test_cents_read_as_dollars() -> None:
    assert [dollars(cents) for cents in (0, 5, 1500, 123_456)] == ["$0.00", "$0.05", "$15.00", "$1,234.56"]
