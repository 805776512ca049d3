"""What the pipeline calls: one lead's notes in, an Insight (or None) out."""

from __future__ import annotations

from collections.abc import Sequence

from leadgen.insights.providers import IntentProvider
from leadgen.insights.schemas import Insight


async def classify_lead(
    provider: IntentProvider, notes: str | None, line: str, *, known_pii: Sequence[str | None] = ()
) -> Insight | None:
    """Intent and urgency of a lead from its free-text notes; None when it left no notes.

    Never raises for a provider's failure: the local rules answer instead, and the insight's
    ``fallback_reason`` says why. With a remote provider this waits up to LEADGEN_LLM_TIMEOUT_SECONDS,
    so call it outside a database transaction.

    Args:
        provider: from ``create_intent_provider``, built once per process.
        notes: the lead's notes as captured.
        line: the lead's insurance line.
        known_pii: the lead's own name, street and the like, masked if the notes repeat them.
    """
    if notes is None or not notes.strip():
        return None
    return await provider.classify(notes, line, known_pii=known_pii)
