"""Notification texts. Offers to agents carry no contact data: the agent sees it after accepting.

The acknowledgement goes to whatever address or number the quote form was given, so it carries no
text the submitter typed (not even their name): anyone can fill in the form, and a greeting made of
their words would let them send their text from us to anyone."""

from __future__ import annotations

from jinja2 import DictLoader, Environment, StrictUndefined

TEMPLATES = {
    "offer.subject": "New {{ line }} lead in {{ state }} (score {{ score }})",
    "offer.body": """Hello {{ agent }},

A {{ line }} lead from {{ state }} has been offered to you (score {{ score }}).
Accept it before {{ deadline }} UTC or it moves to the next agent.

Open your inbox: {{ inbox_url }}
""",
    "offer.sms": "leadgen: new {{ line }} lead in {{ state }} (score {{ score }}), accept by {{ deadline }} UTC",
    "acknowledgement.sms": (
        "Hello, thanks for your {{ line }} insurance request. {{ agent }}, a licensed agent, "
        "will contact you shortly. Reply STOP to opt out."
    ),
    "acknowledgement.subject": "Your {{ line }} insurance quote request",
    "acknowledgement.body": """Hello,

Thanks for your {{ line }} insurance quote request. {{ agent }}, a licensed agent, will contact you shortly.

To stop hearing from us, by e-mail, text or phone: {{ opt_out_url }}
""",
    "requested_again.subject": "Asked again: your {{ line }} lead in {{ state }}",
    "requested_again.body": """Hello {{ agent }},

The person of your {{ line }} lead in {{ state }} asked for a quote again on {{ at }} UTC{{ via }}.
Nobody else was offered the new request. Call them inside their calling hours, shown on the lead's page.

Open the lead: {{ lead_url }}
""",
    "requested_again.sms": (
        "leadgen: the person of your {{ line }} lead in {{ state }} asked for a quote again. {{ lead_url }}"
    ),
    "unassigned.subject": "Lead left unassigned: {{ line }} in {{ state }}",
    "unassigned.body": """A {{ line }} lead from {{ state }} (lead {{ lead_id }}) could not be placed: {{ reason }}.

Review licences, shifts and caps; once an agent can take it, offer it again from its page:
{{ lead_url }}
""",
}


# Plain-text messages (e-mail bodies, SMS), so HTML autoescaping does not apply. The loader lets
# Jinja compile each template once per process, not on every message.
_env = Environment(
    loader=DictLoader(TEMPLATES),
    autoescape=False,  # noqa: S701
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(name: str, **values: object) -> str:
    return _env.get_template(name).render(values)
