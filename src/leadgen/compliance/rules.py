"""Consent and contact rules (TCPA-style), as pure functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from ipaddress import IPv4Address, IPv6Address, ip_network
from itertools import pairwise
from types import MappingProxyType
from zoneinfo import ZoneInfo

from pydantic import EmailStr, TypeAdapter, ValidationError

from leadgen.leads.geography import timezones_for_state
from leadgen.leads.normalize import email_key, phone_e164

Hours = tuple[time, time]
SATURDAY, SUNDAY = 5, 6
_DAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


@dataclass(frozen=True)
class ContactHours:
    """When a person may be contacted, in their local time: ``daily`` (from, until), except on the
    weekdays ``except_on`` names, with hours of their own or None for not at all, and not at all on
    the legal holidays of the state ``closed_on_holidays_of`` names (where its law forbids calls
    on them)."""

    daily: Hours = (time(8), time(21))
    except_on: dict[int, Hours | None] = field(default_factory=dict)
    closed_on_holidays_of: str | None = None

    def on(self, day: date) -> Hours | None:
        if self.holiday(day) is not None:
            return None
        return self.except_on.get(day.weekday(), self.daily)

    def holiday(self, day: date) -> str | None:
        """The name of the legal holiday that closes ``day``, if one does."""
        if self.closed_on_holidays_of is None:
            return None
        return _legal_holidays(self.closed_on_holidays_of, day.year).get(day)

    def describe(self) -> str:
        """The hours as an agent reads them: "9 am to 9 pm, noon to 9 pm on Sundays"."""
        parts = [_span(self.daily)]
        for weekday, hours in sorted(self.except_on.items()):
            parts.append(f"{_span(hours)} on {_DAYS[weekday]}" if hours else f"not on {_DAYS[weekday]}")
        if self.closed_on_holidays_of is not None:
            parts.append("not on the state's legal holidays")
        return ", ".join(parts)


@cache
def _legal_holidays(state: str, year: int) -> Mapping[date, str]:
    """The state's legal holidays in ``year``, federal ones included, on the days they are observed
    (Friday for one on a Saturday, Monday for one on a Sunday, 31 December for the next New Year's
    Day on a Saturday), as the holidays package works them out.

    Copied into a read-only mapping, a year at a time: the package's own calendar fills in a year
    the first time a day of it is asked about, which two threads asking at once (the web apps and
    the worker of ``leadgen up``) can get wrong, for good."""
    # Imported on first use: the package loads the calendars of every country it knows, some 280
    # modules and a quarter of a second, which processes that never check contact hours skip.
    import holidays

    calendar = holidays.country_holidays("US", subdiv=state, years=year, expand=False)
    return MappingProxyType({day: name for day, name in calendar.items() if day.year == year})


def _span(hours: Hours) -> str:
    return f"{_clock(hours[0])} to {_clock(hours[1])}"


def _clock(at: time) -> str:
    if at == time(12):
        return "noon"
    minutes = f":{at.minute:02d}" if at.minute else ""
    return f"{at.hour % 12 or 12}{minutes} {'am' if at.hour < 12 else 'pm'}"


# 47 CFR 64.1200(c)(1): not before 8 am or after 9 pm at the called party's location.
FEDERAL_CONTACT_HOURS = ContactHours()
_UNTIL_8PM = (time(8), time(20))


# Narrower hours that state telemarketing laws set; every other state gets the federal hours. Taken
# from summaries of those laws, not their full text: have counsel review the states you work in.
# Alabama, Louisiana, Mississippi, Pennsylvania, Rhode Island and Utah also forbid sales calls on
# their legal holidays, as the compliance calendars list them. Their laws exempt some calls (prior
# consent, an existing relationship) and Louisiana's regulator enforces fewer holidays than its
# statute names; this table keeps every one of the state's public holidays, since a contact held a
# day costs little and one made on a forbidden day is a fine.
STATE_CONTACT_HOURS: dict[str, ContactHours] = {
    # Alabama Telephone Solicitation Act
    "AL": ContactHours(except_on={SUNDAY: None}, closed_on_holidays_of="AL"),
    "CT": ContactHours((time(9), time(20))),  # Conn. Gen. Stat. 42-288a, as amended in 2023
    "FL": ContactHours(_UNTIL_8PM),  # Florida Telephone Solicitation Act, Fla. Stat. 501.616(6)(a)
    # Louisiana Telephone Solicitation Relief Act; Public Service Commission General Order R-29617
    "LA": ContactHours(_UNTIL_8PM, {SUNDAY: None}, closed_on_holidays_of="LA"),
    "MA": ContactHours(_UNTIL_8PM),  # Mass. Gen. Laws ch. 159C
    "MD": ContactHours(_UNTIL_8PM),  # Md. Code, Com. Law 14-4503 (Stop the Spam Calls Act, 2023)
    "MN": ContactHours((time(9), time(21))),  # Minn. Stat. 325E.27
    # Mississippi Telephone Solicitation Act
    "MS": ContactHours(_UNTIL_8PM, {SUNDAY: None}, closed_on_holidays_of="MS"),
    "OK": ContactHours(_UNTIL_8PM),  # Oklahoma Telephone Solicitation Act, 15 O.S. 775C.4
    "PA": ContactHours(closed_on_holidays_of="PA"),  # Pennsylvania Telemarketer Registration Act
    # Rhode Island Telephone Sales Solicitation Act, R.I. Gen. Laws 5-61-2(9)
    "RI": ContactHours((time(9), time(18)), {SATURDAY: (time(10), time(17)), SUNDAY: None}, closed_on_holidays_of="RI"),
    "TX": ContactHours((time(9), time(21)), {SUNDAY: (time(12), time(21))}),  # Tex. Bus. & Com. Code 301.051
    "UT": ContactHours(except_on={SUNDAY: None}, closed_on_holidays_of="UT"),  # Utah Code 13-25a-103
    "WA": ContactHours(_UNTIL_8PM),  # RCW 80.36.390
}
# Why nobody may contact a person at all (``repository.contact_barred``), as stored and in words.
ERASED, DO_NOT_CONTACT = "erased", "do-not-contact"
BARRED_BECAUSE = {ERASED: "the person's data was erased", DO_NOT_CONTACT: "the person is on the do-not-contact list"}
# The do-not-contact list's kind for a phone number at one extension (``extension_hash``).
EXTENSION = "ext"
# The event on each lead of a person who revoked consent (reports count them per source).
OPTED_OUT_EVENT = "lead.opted_out"
# Listed by the agency's own list, not by the person through one of its leads: reports leave it
# out of a source's opt-out rate.
IMPORTED_LIST = "import"
# Ways a person revokes consent, as recorded with the do-not-contact entry and the lead event.
OPT_OUT_REASONS = {
    "sms-reply": "replied to a text asking to stop",
    "email-link": "used the unsubscribe link of an e-mail",
    "staff": "told staff not to be contacted",
    "agent": "told the agent working their lead not to be contacted",
    IMPORTED_LIST: "on the agency's own do-not-contact list",
    # A new lead gave a listed number or address with one the list did not know yet: the opt-out
    # follows the person to it (an opt-out survives merges).
    "linked": "gave it with a number or address already listed",
}
# Listed as "linked" is, but every listed entry the lead matched came from the agency's list: the
# list follows the person all the same, yet nobody revoked consent, so reports leave it out as they
# leave out the import.
LINKED_TO_IMPORTED_LIST = "linked-import"
# How a lead's opt-out came about without the person saying anything (``lead.opted_out``'s ``via``).
LISTED_BY_THE_AGENCY = (IMPORTED_LIST, LINKED_TO_IMPORTED_LIST)
# A removal's reason that says the person never opted out: their leads' opt-outs are withdrawn.
# Any other (a new written consent) keeps them: the person did opt out, and reports count it.
LISTED_BY_MISTAKE = "listed_by_mistake"
# A reply holding any of these words revokes consent (47 CFR 64.1200(a)(12), FCC 24-18, and the
# carriers' STOPALL/UNSUBSCRIBE keywords). A word found in a longer reply ("please stop") counts
# too: honouring a reply that did not mean it costs a lead, ignoring one that did breaks the law.
OPT_OUT_WORDS = frozenset({"stop", "stopall", "quit", "end", "revoke", "optout", "cancel", "unsubscribe"})
# The same wish in other words (FCC 24-18: any reasonable means), matched on the reply's words.
OPT_OUT_PHRASES = re.compile(
    r"\b(?:remove me|take me off|leave me alone|wrong number|opt me out|"
    r"delete my (?:number|phone|e ?mail|info|information|details)|"
    r"(?:do not|dont|don t|never) (?:call|text|message|contact|e ?mail|send)|"
    r"no more (?:calls?|texts?|texting|text messages?|messages?|e ?mails?))\b"
)
_EMAIL = TypeAdapter(EmailStr)
CONSENT_MAX_AGE = timedelta(days=30)
CONSENT_CLOCK_SKEW = timedelta(minutes=5)
# Why a message the platform sends the person on its own is blocked (``automated_message_problem``).
NO_CONSENT_ON_RECORD = "no consent on record"


def typed_text_kept(anonymised_at: datetime | None, text: str | None) -> str | None:
    """What agents and staff type about a lead is kept, unless the person was erased: it may
    describe them (``privacy.service`` erases what was typed before)."""
    return None if anonymised_at is not None else text


def consent_problem(
    origin: str, has_consent: bool, captured_at: datetime | None, now: datetime, *, web_traces: bool
) -> str | None:
    """Why a lead's consent is not acceptable, or None when it is. ``web_traces``: the lead carries
    what only a web form leaves (a landing page, a browser's IP address or user agent), which makes
    it a web-form lead whatever ``origin`` its sender chose."""
    if origin == "web" and not has_consent:
        return "web-form leads must include the consent record the person agreed to"
    if web_traces and not has_consent:
        return "a lead with a landing page, IP address or user agent came from a web form: it must include consent"
    if captured_at is not None:
        if captured_at > now + CONSENT_CLOCK_SKEW:
            return "consent.captured_at is in the future"
        if now - captured_at > CONSENT_MAX_AGE:
            return "consent is older than 30 days"
    return None


# Networks no request from the internet comes from, besides loopback, link-local, multicast,
# unspecified and reserved addresses (``ipaddress`` knows those): private networks (RFC 1918, IPv6
# unique local and the site-local addresses before them), "this network" (RFC 791) and the shared
# space behind carrier-grade NATs (RFC 6598). The documentation networks (RFC 5737, RFC 3849) are not
# among them: the examples vendors test with use them.
_NO_PERSONS_NETWORKS = tuple(
    ip_network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
        "fec0::/10",
    )
)


def _a_persons_address(ip: IPv4Address | IPv6Address) -> bool:
    """Whether a web server can have seen a person's request come from ``ip``."""
    address = (ip.ipv4_mapped if isinstance(ip, IPv6Address) else None) or ip
    unroutable = (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )
    return not unroutable and not any(address in network for network in _NO_PERSONS_NETWORKS)


def sent_consent_problems(origin: str, ip: IPv4Address | IPv6Address | None, page_url: str | None) -> dict[str, str]:
    """What a consent record a lead's sender wrote lacks or gets wrong, by its field (``ip``,
    ``page_url``); empty when nothing. A web-form lead's record says where the person agreed: from
    which IP address, on which page (the brief's consent record). An IP address must be one a
    person's request can come from: a loopback, private, link-local or reserved one is the sender's
    own network's, not the person's."""
    problems: dict[str, str] = {}
    if ip is None and origin == "web":
        problems["ip"] = "required for a web-form lead: the IP address the person agreed from"
    elif ip is not None and not _a_persons_address(ip):
        problems["ip"] = "a loopback, private, link-local or reserved address cannot be the person's"
    if page_url is None and origin == "web":
        problems["page_url"] = "required for a web-form lead: the page the person agreed on"
    return problems


def automated_message_problem(*, has_consent: bool) -> str | None:
    """Why the platform may not send the person a message of its own (a text or e-mail it writes
    and sends with no one deciding each one), or None when it may. The TCPA asks for the person's
    prior express consent to automated texts and prerecorded calls, so the lead must carry a
    consent record. A record holds no channel of its own: it covers the number and address the lead
    was sent with, which are never changed after intake. A phone or referral lead may come without
    one (``consent_problem``); an agent may still call that person by hand, a human decision."""
    return None if has_consent else NO_CONSENT_ON_RECORD


def contact_hours(state: str) -> ContactHours:
    return STATE_CONTACT_HOURS.get(state, FEDERAL_CONTACT_HOURS)


# Area codes that a state's telemarketing law presumes to be its residents' numbers: a number with
# one of them is contacted only inside that state's hours too, whatever the address says. Florida's
# Telephone Solicitation Act (as amended by SB 1120, 2021) presumes a call to any of its area codes
# reaches a Floridian, and the Oklahoma Telephone Solicitation Act (2022) copied the rule. Overlays
# are listed as the numbering plan assigned them; counsel may add other states that presume so.
_PRESUMED_AREA_CODES = {
    "FL": ("239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 941 954"),
    "OK": "405 539 572 580 918",
}
AREA_CODE_STATES: dict[str, str] = {
    code: state for state, codes in _PRESUMED_AREA_CODES.items() for code in codes.split()
}


def contact_states(state: str, phone: str | None = None) -> list[str]:
    """The states whose contact hours hold for a person: the address's, and the one the phone
    number's area code places them in where a law presumes so (``phone`` in E.164 form)."""
    presumed = AREA_CODE_STATES.get(phone[2:5]) if phone and phone.startswith("+1") else None
    return [state, presumed] if presumed and presumed != state else [state]


def in_contact_window(state: str, now: datetime, phone: str | None = None) -> bool:
    """Whether the person with an address in ``state`` and this ``phone`` may be contacted now."""
    return window_open(contact_states(state, phone), now)


def next_contact_time(state: str, now: datetime, phone: str | None = None) -> datetime:
    """The earliest moment at or after ``now`` inside that person's contact window (UTC if later)."""
    return next_opening(contact_states(state, phone), now)


def window_open(states: list[str], now: datetime) -> bool:
    """Whether every state's contact hours hold at ``now`` in each of its time zones: the person's
    own zone is not known, so a state split between two is contacted only when both allow it."""
    for state in states:
        hours = contact_hours(state)
        for name in timezones_for_state(state):
            local = now.astimezone(ZoneInfo(name))
            today = hours.on(local.date())
            if today is None or not today[0] <= local.time() < today[1]:
                return False
    return True


def next_opening(states: list[str], now: datetime) -> datetime:
    """The earliest moment at or after ``now`` when ``window_open`` holds (in UTC when later).

    Where the window of every zone (of every state) is open at once, it opened when the last of
    them did, so the answer is ``now`` or one of the coming openings; a week ahead reaches past any
    run of closed days (a Sunday, then a legal holiday on the Monday, in Rhode Island that closes
    at 5 pm on Saturdays)."""
    if window_open(states, now):
        return now
    openings = []
    for state in states:
        hours = contact_hours(state)
        for name in timezones_for_state(state):
            zone = ZoneInfo(name)
            today = now.astimezone(zone).date()
            for day in (today + timedelta(days=n) for n in range(8)):
                if (open_hours := hours.on(day)) is not None:
                    openings.append(datetime.combine(day, open_hours[0], tzinfo=zone))
    return min(at for at in openings if at > now and window_open(states, at)).astimezone(UTC)


def asks_to_opt_out(reply: str) -> bool:
    """Whether a reply to one of our texts revokes consent: any opt-out word in it, in any case
    and punctuation ("Stop!", "opt-out", "OPT OUT"), or a phrase such as "remove me" or "don't
    text me"."""
    words = re.findall(r"[a-z]+", reply.lower())
    joined = {a + b for a, b in pairwise(words)}  # "opt out" and "opt-out"
    if not OPT_OUT_WORDS.isdisjoint(words) or not OPT_OUT_WORDS.isdisjoint(joined):
        return True
    return OPT_OUT_PHRASES.search(" ".join(words)) is not None


def extension_hash(phone_hash: str, extension: str) -> str:
    """The do-not-contact list's key for the number of ``phone_hash`` at ``extension``: what bars one
    person at a switchboard and not their colleagues at its other extensions. Derived from the
    number's keyed hash, so it needs no key of its own and cannot be read back either."""
    return hashlib.sha256(f"{EXTENSION}:{phone_hash}:{extension}".encode()).hexdigest()


def own_entries(phone_hash: str | None, email_hash: str | None, extension: str | None) -> list[tuple[str, str]]:
    """The (kind, hash) entries that bar one person and nobody else, as an erasure lists them: the
    e-mail address, and the number at the extension given with it, or the number itself when none
    was (the main number may be anyone's at the switchboard, and is barred for every extension)."""
    entries = [("email", email_hash)] if email_hash else []
    if phone_hash:
        entries.append((EXTENSION, extension_hash(phone_hash, extension)) if extension else ("phone", phone_hash))
    return entries


def list_entries(lines: Iterable[str]) -> tuple[list[tuple[str, str]], list[int]]:
    """A do-not-contact list as an agency keeps it, one phone number or e-mail address per line
    (blank lines and lines starting with # are skipped): the (kind, normalised value) of each entry,
    once, and the numbers of the lines that hold neither."""
    entries: dict[tuple[str, str], None] = {}
    invalid: list[int] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        entry = _list_entry(text)
        if entry is None:
            invalid.append(number)
        else:
            entries[entry] = None
    return list(entries), invalid


def _list_entry(text: str) -> tuple[str, str] | None:
    """Normalised as intake normalises a lead's contact, so that the keyed hashes meet."""
    if "@" in text:
        try:
            return ("email", email_key(_EMAIL.validate_python(text)))
        except ValidationError:
            return None
    phone = phone_e164(text)
    return ("phone", phone) if phone else None
