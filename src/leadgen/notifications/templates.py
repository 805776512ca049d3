"""Notification texts. Offers to agents carry no contact data: the agent sees it after accepting."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, StrictUndefined

_env = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)  # noqa: S701 (plain-text e-mail)

OFFER_SUBJECT = _env.from_string("New {{ line }} lead in {{ state }} (score {{ score }})")
OFFER_BODY = _env.from_string(
    """Hello {{ agent }},

A {{ line }} lead from {{ state }} has been offered to you (score {{ score }}).
Accept it before {{ deadline }} UTC or it moves to the next agent.

Open your inbox: {{ inbox_url }}
"""
)


def offer(agent: str, line: str, state: str, score: int | None, deadline: datetime, inbox_url: str) -> tuple[str, str]:
    values = {
        "agent": agent, "line": line, "state": state, "score": score if score is not None else "n/a",
        "deadline": deadline.strftime("%Y-%m-%d %H:%M"), "inbox_url": inbox_url,
    }
    return OFFER_SUBJECT.render(values), OFFER_BODY.render(values)
