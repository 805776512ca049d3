"""What a source's price may be. The API and the CLI both change prices through ``sources.service``."""

from __future__ import annotations

# From nothing (the agency's own quote form) to a few hundred dollars (a live transfer); the bound
# catches a price typed with zeros too many before it is paid for every lead.
MAX_PRICE_CENTS = 100_000


def dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def price_problem(cents: int) -> str | None:
    """Why ``cents`` cannot be a source's price per lead, or None when it can."""
    if not 0 <= cents <= MAX_PRICE_CENTS:
        return f"a price per lead is 0 to {MAX_PRICE_CENTS} cents ({dollars(MAX_PRICE_CENTS)})"
    return None
