"""Notification texts. Offers to agents carry no contact data: the agent sees it after accepting.

The acknowledgement goes to whatever address or number the quote form was given, so it carries no
text the submitter typed (not even their name): anyone can fill in the form, and a greeting made of
their words would let them send their text from us to anyone.

Times are the agent's: in their time zone, with its abbreviation (``agent_time``). Texts are kept
to GSM-7, the SMS alphabet (``render_sms``)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import DictLoader, Environment, StrictUndefined

TEMPLATES = {
    "offer.subject": "New {{ line }} lead in {{ state }} (score {{ score }})",
    "offer.body": """Hello {{ agent }},

A lead for {{ line }} insurance from {{ state }} has been offered to you (score {{ score }}).
Accept it before {{ deadline }} or it moves to the next agent.

Open your inbox: {{ inbox_url }}
""",
    "offer.sms": "leadgen: new {{ line }} lead in {{ state }} (score {{ score }}), accept by {{ deadline }}",
    # The first text of our programme a person gets: it names the sender and gives STOP and HELP
    # (CTIA Messaging Principles and Best Practices), in one segment (``acknowledgement_text``).
    "acknowledgement.sms": (
        "{{ sender }}: thanks for your {{ line }} insurance request. "
        "{% if agent %}{{ agent }}, a licensed agent,{% else %}A licensed agent{% endif %} "
        "will contact you soon. Reply STOP to opt out, HELP for help."
    ),
    "acknowledgement.subject": "Your {{ line }} insurance quote request",
    "acknowledgement.body": """Hello,

Thanks for your {{ line }} insurance quote request to {{ sender }}.
{{ agent }}, a licensed agent, will contact you shortly.

To stop hearing from us, by e-mail, text or phone: {{ opt_out_url }}

{{ sender }}
""",
    "requested_again.subject": "Asked again: your {{ line }} lead in {{ state }}",
    "requested_again.body": """Hello {{ agent }},

The person of your {{ line }} lead in {{ state }} asked for a quote again at {{ at }}{{ via }}.
Nobody else was offered the new request. Call them inside their calling hours, shown on the lead's page.

Open the lead: {{ lead_url }}
""",
    "requested_again.sms": (
        "leadgen: the person of your {{ line }} lead in {{ state }} asked for a quote again. {{ lead_url }}"
    ),
    "unassigned.subject": "Lead left unassigned: {{ line }} in {{ state }}",
    "unassigned.body": """A lead for {{ line }} insurance from {{ state }} (lead {{ lead_id }})
could not be placed: {{ reason }}.

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


def render_sms(name: str, **values: object) -> str:
    """A text, its values (a staff name, a time) in GSM-7 where they have a form in it (``to_gsm7``).
    One character outside GSM-7 (a curly apostrophe in an agent's name) sends the whole text as
    UCS-2: 70 characters a segment instead of 160, and every segment is paid for."""
    return render(name, **{key: to_gsm7(value) if isinstance(value, str) else value for key, value in values.items()})


# What one SMS segment carries: 160 GSM-7 septets, or 70 UCS-2 characters for a text with any
# character outside GSM-7 (3GPP TS 23.038). A longer text is split, each part paid for.
SEGMENT_SEPTETS = 160
SEGMENT_UCS2_CHARACTERS = 70


def one_segment(text: str) -> bool:
    """Whether ``text`` goes as a single SMS segment."""
    if set(text) <= _GSM7:
        return len(text) + sum(char in _GSM7_EXTENSION for char in text) <= SEGMENT_SEPTETS
    return len(text) <= SEGMENT_UCS2_CHARACTERS


def acknowledgement_text(*, sender: str, line: str, agent: str) -> str:
    """The person's acknowledgement by text, in one segment: naming the agent in full, else by
    their first name, else not at all (a long name, or one outside GSM-7). The sender, STOP and
    HELP are never left out; a sender's name too long for them all makes a longer text."""
    first_name = agent.split(" ", 1)[0]
    for named in dict.fromkeys((agent, first_name)):
        text = render_sms("acknowledgement.sms", sender=sender, line=line, agent=named)
        if one_segment(text):
            return text
    return render_sms("acknowledgement.sms", sender=sender, line=line, agent="")


def agent_time(when: datetime, zone: str | None, now: datetime) -> str:
    """``when`` as the agent reads it: in their time zone with its abbreviation ("10:15 am CDT"),
    and its day when that is not today there ("10:15 am CDT on Tue Jun 2"); in UTC for an agent
    without a known zone."""
    place = _zone(zone)
    local = when.astimezone(place)
    text = f"{local.hour % 12 or 12}:{local:%M} {'am' if local.hour < 12 else 'pm'} {local.tzname()}"
    return text if local.date() == now.astimezone(place).date() else f"{text} on {local:%a %b} {local.day}"


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a region's folder ("America")
        return UTC


# GSM 03.38's default alphabet (3GPP TS 23.038 §6.2.1) and its extension table, whose characters
# take two of a segment's septets.
_GSM7_EXTENSION = frozenset("^{}\\[~]|€")
_GSM7 = (
    frozenset(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    | _GSM7_EXTENSION
)
# What GSM-7 has for typographic punctuation, and for letters that carry no accent Unicode can take
# off (``to_gsm7`` takes off the others).
_LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),  # curly single quotes, prime
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),  # curly double quotes, double prime
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"),  # hyphens, dashes, minus
        "\u00a0": " ",  # no-break space
        "\u2026": "...",
        "\u0131": "i",  # dotless i
        **{"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ħ": "h", "Ħ": "H"},
        **{"œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th"},
    }
)


def to_gsm7(text: str) -> str:
    """``text`` in GSM-7 as far as it goes: typographic quotes and dashes as plain ones, a letter
    GSM-7 lacks as its base letter (á as a, ễ as e; it has é, ñ, ü and a few more). A character
    with no such form (a Chinese one) is kept: the text then goes as UCS-2, as it must to carry it."""
    return "".join(_gsm7_char(char) for char in text.translate(_LOOKALIKES))


def _gsm7_char(char: str) -> str:
    if char in _GSM7:
        return char
    base = "".join(part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part))
    return base if base and set(base) <= _GSM7 else char
