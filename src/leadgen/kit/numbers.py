"""Numbers read from data a lead's source wrote, where anything may stand."""

from __future__ import annotations

import math


def finite_number(value: object) -> float | None:
    """``value`` as a finite float; None for anything else: not a number, a bool, NaN, infinity, or
    an integer beyond a float's range (which ``float`` and ``math.isfinite`` raise on)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
