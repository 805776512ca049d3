"""What a source may be: its kind and its price. The API and the CLI both change prices through
``sources.service``."""

from __future__ import annotations

import enum


class SourceKind(enum.StrEnum):
    """Who sends a source's leads."""

    VENDOR = "vendor"  # a lead seller posting to the API with a key
    WEB = "web"  # the agency's own quote form
    PARTNER = "partner"  # a referral partner posting with a key


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
