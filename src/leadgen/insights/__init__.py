"""Lead insights: intent and urgency from a lead's free-text notes.

A local keyword classifier by default (``rules``); optionally OpenAI, Anthropic or Cohere through
their official SDKs (``providers``), always falling back to the local rules. See docs/LLM.md.
"""
