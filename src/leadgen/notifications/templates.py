"""Notification texts. Offers to agents carry no contact data: the agent sees it after accepting."""

from __future__ import annotations

from jinja2 import Environment, StrictUndefined

# Plain-text messages (e-mail bodies, SMS), so HTML autoescaping does not apply.
_env = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)  # noqa: S701

TEMPLATES = {
    "offer.subject": "New {{ line }} lead in {{ state }} (score {{ score }})",
    "offer.body": """Hello {{ agent }},

A {{ line }} lead from {{ state }} has been offered to you (score {{ score }}).
Accept it before {{ deadline }} UTC or it moves to the next agent.

Open your inbox: {{ inbox_url }}
""",
    "offer.sms": "leadgen: new {{ line }} lead in {{ state }} (score {{ score }}), accept by {{ deadline }} UTC",
    "acknowledgement.sms": (
        "Hi {{ first_name }}, thanks for your {{ line }} insurance request. {{ agent }}, a licensed agent, "
        "will contact you shortly. Reply STOP to opt out."
    ),
    "acknowledgement.subject": "Your {{ line }} insurance quote request",
    "acknowledgement.body": """Hi {{ first_name }},

Thanks for your {{ line }} insurance quote request. {{ agent }}, a licensed agent, will contact you shortly.

To stop hearing from us, reply to this e-mail with "unsubscribe".
""",
    "unassigned.subject": "Lead left unassigned: {{ line }} in {{ state }}",
    "unassigned.body": """A {{ line }} lead from {{ state }} (lead {{ lead_id }}) could not be placed: {{ reason }}.

Review licences, shifts and caps, then re-route it from the dashboard.
""",
}


def render(name: str, **values: object) -> str:
    return _env.from_string(TEMPLATES[name]).render(values)
