"""The public quote form: its fields per insurance line, the api payload, and errors by field.

Every input is named by its dotted path in the api's quote request (``contact.address.zip``,
``details.vehicles.0.year``), so a field error the api reports on that path lands next to the
input that caused it without a hand-kept mapping. Values travel as the strings the browser sent;
the api's models parse and validate them, and their messages are the ones shown. The api records
the consent itself (the time, the browser's address, this page): the form sends whether the box was
ticked and the digest of the consent text it showed, which the api records as agreed to.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The words shown beside the consent checkbox are the api's: what it records as agreed to.
from leadgen.compliance.consent import CONSENT_TEXT as CONSENT_TEXT
from leadgen.compliance.consent import consent_text_sha256
from leadgen.frontend.client import FieldError
from leadgen.leads.geography import STATE_NAMES

CONSENT_FIELD = "consent"
# A hidden input carrying the digest of the text the page showed. The browser posts it back, so the
# api hears which text the person saw, even when another frontend pod (of another release during a
# rollout) rendered the page than the one that takes the post.
CONSENT_TEXT_FIELD = "consent_text_sha256"
CONSENT_TEXT_SHA256 = consent_text_sha256(CONSENT_TEXT)
MAX_USER_AGENT = 512
# A trap for scripts that fill in every input they find: people never see it, nor reach it by
# keyboard or screen reader, so a request with it filled in is not a person's and is refused. Its
# name means nothing to browsers' autofill (as "website" or "url" would), which would fill it in
# for the person.
TRAP_FIELD = "leave_blank"
# What the page then says: nothing that tells a script which input gave it away.
TRAPPED = "Your request could not be sent. Check your answers and send it again."
# The line picker sits in the quote form, so choosing another line keeps what the person typed:
# its select names the line wanted, and its button, when pressed, asks for that line's questions
# instead of sending the request. The hidden ``line`` input names the line whose questions were
# answered.
LINE_CHOICE = "line_choice"
SHOW_QUESTIONS = "show_questions"
# Titles of the box above the form: the answers need a change, or the request did not go through.
CHECK_ANSWERS = "Please check your answers"
NOT_SENT = "Your request was not sent"
SEND_AGAIN = (
    "We could not send your request just now. Your answers are kept: please press the Get my quotes "
    "button again. If it fails again, try again in a few minutes."
)
# The form's token was refused: mostly a page left open longer than its cookie lives
# (csrf.ANON_MAX_AGE_SECONDS), or a browser that dropped the cookie.
FORM_EXPIRED = (
    "This page was open a long time, or your browser did not keep its cookie, so we could not accept "
    "your request. Your answers are kept: tick the consent box again and press the Get my quotes button. "
    "If this happens again, allow cookies for this site."
)


# A hidden input naming this rendering of the form: the same form sent again (a double click, Back
# and send, a retry after a dropped connection) carries it again, and the api answers with the lead
# the first send stored instead of storing another. A new page load names a new request.
SUBMISSION_FIELD = "submission"
_SUBMISSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_SUBMISSION_KEY_LABEL = b"leadgen.frontend.quote-submission"
# The form's token was not one a page gives: the person's answers come back with a good one.
SUBMISSION_REFUSED = (
    "Your request could not be sent as it came. Your answers are kept: tick the consent box again and "
    "press the Get my quotes button."
)
# This form was sent before with other answers (Back, a change, and sent again): the first request
# stands, and sending the page shown now, a new form, is a new request.
RESENT_WITH_OTHER_ANSWERS = (
    "This form was already sent, with other answers, and we have that request: nothing was changed. "
    "To ask for quotes with the answers below as well, press the Get my quotes button again."
)
ALREADY_SENT = "Your request was sent before"


def new_submission_token() -> str:
    return secrets.token_urlsafe(32)


def posted_submission_token(read: Mapping[str, list[str]]) -> str | None:
    """The form's token as posted; None when the page had none (a page of the previous release).
    Raises ``ValueError`` for a value no page gives."""
    posted = read.get(SUBMISSION_FIELD)
    if posted is None:
        return None
    if len(posted) != 1 or not _SUBMISSION_TOKEN.fullmatch(posted[0]):
        raise ValueError("not a quote form's submission token")
    return posted[0]


def submission_key(session_secret: str, anonymous_nonce: str, token: str) -> str:
    """The key the api keeps with the lead: the form's token bound to the browser's anonymous cookie
    (``csrf.anonymous_nonce``) under the session secret. Another browser that presents the same token
    (copied by a script) names a request of its own, never the person's: it can neither read nor
    block theirs."""
    message = b"%s\n%s\n%s" % (_SUBMISSION_KEY_LABEL, anonymous_nonce.encode(), token.encode())
    return hmac.new(session_secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class FormField:
    """One input. ``name`` is its path in the lead payload, without the line tag."""

    name: str
    label: str
    kind: str = "text"  # text, email, tel, number, date, select, checkbox, checkboxes
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    hint: str | None = None
    autocomplete: str | None = None
    minimum: int | None = None
    maximum: int | None = None

    @property
    def html_id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass(frozen=True)
class Section:
    """A group of inputs. With ``needs_one_of``, at least one of them must be filled in (none is
    required on its own), and that is the message shown beside each when none is."""

    legend: str
    fields: tuple[FormField, ...]
    needs_one_of: str | None = None


@dataclass(frozen=True)
class LineForm:
    line: str
    label: str
    sections: tuple[Section, ...]
    # Values of list items the person does not type (a household member's relationship); set
    # only when the person filled in something else of that item.
    constants: Mapping[str, str] = field(default_factory=dict)

    def all_sections(self) -> tuple[Section, ...]:
        return (*COMMON_SECTIONS, *self.sections)

    def fields(self) -> list[FormField]:
        return [f for s in self.all_sections() for f in s.fields]


def _f(name: str, label: str, kind: str = "text", **kwargs: Any) -> FormField:
    return FormField(name, label, kind, **kwargs)


_YES_NO = (("", "Prefer not to say"), ("yes", "Yes"), ("no", "No"))

COMMON_SECTIONS = (
    Section(
        "About you",
        (
            _f("contact.first_name", "First name", required=True, autocomplete="given-name"),
            _f("contact.last_name", "Last name", required=True, autocomplete="family-name"),
            _f("contact.date_of_birth", "Date of birth", "date", autocomplete="bday"),
        ),
    ),
    Section(
        "How we can reach you: a phone number, an e-mail address, or both",
        (
            _f(
                "contact.phone",
                "Phone number",
                "tel",
                autocomplete="tel",
                hint="A US number, with your extension after it if you have one (ext. 101).",
            ),
            _f("contact.email", "E-mail address", "email", autocomplete="email"),
        ),
        needs_one_of="Give a phone number, an e-mail address, or both.",
    ),
    Section(
        "Your address",
        (
            _f("contact.address.street", "Street address", autocomplete="street-address"),
            _f("contact.address.city", "City", autocomplete="address-level2"),
            _f(
                "contact.address.zip",
                "ZIP code",
                required=True,
                autocomplete="postal-code",
                hint="Five digits; it tells us your state.",
            ),
            _f(
                "contact.address.state",
                "State",
                "select",
                choices=(("", "The one my ZIP code is in"), *sorted(STATE_NAMES.items(), key=lambda item: item[1])),
                autocomplete="address-level1",
                hint="Needed only if your ZIP code serves two states, as a few near a state line do.",
            ),
        ),
    ),
    Section(
        "Your current insurance",
        (
            _f("currently_insured", "Are you insured today?", "select", choices=_YES_NO),
            _f("current_carrier", "Current insurance company"),
            _f("policy_expires_on", "Current policy renews or ends on", "date"),
        ),
    ),
)

_AUTO = LineForm(
    "auto",
    "Car insurance",
    (
        Section(
            "The main driver",
            (
                _f(
                    "details.drivers.0.age_first_licensed",
                    "Age when first licensed",
                    "number",
                    required=True,
                    minimum=14,
                    maximum=99,
                ),
                _f(
                    "details.drivers.0.incidents_last_5_years",
                    "Accidents and tickets in the last 5 years",
                    "number",
                    minimum=0,
                    maximum=50,
                ),
                _f("details.drivers.0.sr22_required", "I need an SR-22 filing", "checkbox"),
            ),
        ),
        Section(
            "The vehicle",
            (
                _f("details.vehicles.0.year", "Year", "number", required=True, minimum=1950, maximum=2030),
                _f("details.vehicles.0.make", "Make", required=True, hint="For example: Toyota"),
                _f("details.vehicles.0.model", "Model", required=True, hint="For example: Camry"),
                _f(
                    "details.vehicles.0.use",
                    "Mostly used for",
                    "select",
                    choices=(
                        ("commute", "Commuting"),
                        ("pleasure", "Pleasure"),
                        ("business", "Business"),
                        ("farm", "Farm"),
                    ),
                ),
                _f("details.vehicles.0.annual_mileage", "Miles a year", "number", minimum=0, maximum=200000),
                _f(
                    "details.coverage_tier",
                    "Coverage you want",
                    "select",
                    choices=(("standard", "Standard"), ("state_minimum", "State minimum"), ("premium", "Premium")),
                ),
            ),
        ),
    ),
)

_HOME = LineForm(
    "home",
    "Home insurance",
    (
        Section(
            "The home",
            (
                _f("details.year_built", "Year built", "number", required=True, minimum=1800, maximum=2030),
                _f(
                    "details.square_feet",
                    "Living area (square feet)",
                    "number",
                    required=True,
                    minimum=100,
                    maximum=50000,
                ),
                _f(
                    "details.construction",
                    "Construction",
                    "select",
                    choices=(("frame", "Wood frame"), ("masonry", "Masonry"), ("steel", "Steel"), ("other", "Other")),
                ),
                _f("details.roof_age_years", "Age of the roof (years)", "number", minimum=0, maximum=100),
                _f("details.claims_last_5_years", "Claims in the last 5 years", "number", minimum=0, maximum=50),
                _f(
                    "details.dwelling_coverage",
                    "Coverage wanted for the building (USD)",
                    "number",
                    required=True,
                    minimum=10000,
                ),
            ),
        ),
    ),
)

_LIFE = LineForm(
    "life",
    "Life insurance",
    (
        Section(
            "About your health",
            (
                _f("details.height_inches", "Height (inches)", "number", required=True, minimum=36, maximum=96),
                _f("details.weight_pounds", "Weight (pounds)", "number", required=True, minimum=50, maximum=700),
                _f("details.tobacco", "I have used tobacco or nicotine in the last 12 months", "checkbox"),
            ),
        ),
        Section(
            "The policy",
            (
                _f("details.face_amount", "Amount of cover (USD)", "number", required=True, minimum=1000),
                _f(
                    "details.product",
                    "Kind of policy",
                    "select",
                    choices=(("term", "Term life"), ("whole", "Whole life"), ("final_expense", "Final expense")),
                ),
                _f("details.term_years", "Term (years), for term life", "number", minimum=5, maximum=40),
            ),
        ),
    ),
)

_HEALTH = LineForm(
    "health",
    "Health insurance (including Medicare)",
    (
        Section(
            "Your household",
            (
                _f("details.household.0.age", "Your age", "number", required=True, minimum=0, maximum=120),
                _f(
                    "details.household.1.age", "Your spouse's age, if they need cover", "number", minimum=0, maximum=120
                ),
                _f("details.annual_income", "Household income a year (USD)", "number", minimum=0),
            ),
        ),
        Section(
            "Your cover",
            (
                _f("details.coverage_start", "Cover should start on", "date"),
                _f(
                    "details.qualifying_event",
                    "Recent life event",
                    "select",
                    choices=(
                        ("", "None"),
                        ("lost coverage", "Lost other coverage"),
                        ("moved", "Moved"),
                        ("married", "Got married"),
                        ("new child", "Had or adopted a child"),
                    ),
                ),
                _f("details.medicare_interest", "I am interested in Medicare plans", "checkbox"),
            ),
        ),
    ),
    constants={"details.household.0.relationship": "self", "details.household.1.relationship": "spouse"},
)

_COMMERCIAL = LineForm(
    "commercial",
    "Business insurance",
    (
        Section(
            "The business",
            (
                _f("details.legal_name", "Legal name of the business", required=True, autocomplete="organization"),
                _f(
                    "details.entity_type",
                    "Kind of business",
                    "select",
                    required=True,
                    choices=(
                        ("llc", "LLC"),
                        ("corporation", "Corporation"),
                        ("sole_proprietor", "Sole proprietor"),
                        ("partnership", "Partnership"),
                        ("nonprofit", "Nonprofit"),
                    ),
                ),
                _f("details.class_code", "Industry class code", hint="If you know it."),
                _f("details.years_in_business", "Years in business", "number", required=True, minimum=0, maximum=300),
                _f("details.employees", "Employees", "number", required=True, minimum=0),
                _f("details.annual_revenue", "Revenue a year (USD)", "number", minimum=0),
            ),
        ),
        Section(
            "Cover wanted",
            (
                _f(
                    "details.coverages",
                    "Which cover do you want?",
                    "checkboxes",
                    required=True,
                    choices=(
                        ("general_liability", "General liability"),
                        ("property", "Commercial property"),
                        ("workers_comp", "Workers' compensation"),
                        ("commercial_auto", "Commercial auto"),
                        ("professional_liability", "Professional liability"),
                        ("cyber", "Cyber"),
                    ),
                ),
            ),
        ),
    ),
)

LINES: dict[str, LineForm] = {f.line: f for f in (_AUTO, _HOME, _LIFE, _HEALTH, _COMMERCIAL)}
DEFAULT_LINE = "auto"

# Errors the api reports on an object rather than on one input, and the input they belong to.
_ERROR_TARGETS = {"contact": "contact.phone", "contact.address": "contact.address.zip"}


def line_form(line: str | None) -> LineForm:
    return LINES.get(line or "", LINES[DEFAULT_LINE])


Submitted = Mapping[str, str | list[str]]


def submitted_values(form: LineForm, read: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    """What the person entered, by input name, to fill the form in again."""
    values: dict[str, str | list[str]] = {}
    for f in form.fields():
        raw = read.get(f.name, [])
        if f.kind == "checkboxes":
            allowed = {value for value, _ in f.choices}
            values[f.name] = [v for v in raw if v in allowed]
        else:
            values[f.name] = raw[0].strip() if raw else ""
    values[CONSENT_FIELD] = "yes" if read.get(CONSENT_FIELD) else ""
    shown = read.get(CONSENT_TEXT_FIELD, [])
    values[CONSENT_TEXT_FIELD] = shown[0].strip() if shown else ""
    return values


def carried_values(form: LineForm, read: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    """What the person entered that ``form`` asks for too, to show it after they chose that line:
    the shared sections' inputs (each line's own are named under its details). Not the consent box:
    ticking it is the person's own act on the form they send."""
    return {**submitted_values(form, read), CONSENT_FIELD: ""}


def trapped(read: Mapping[str, list[str]]) -> bool:
    """Whether the trap input (``TRAP_FIELD``) came back filled in."""
    return any(value.strip() for value in read.get(TRAP_FIELD, []))


def missing_required(form: LineForm, values: Submitted) -> dict[str, list[str]]:
    """Checks done before asking the api: required inputs and the consent box."""
    errors: dict[str, list[str]] = {}
    for f in form.fields():
        if f.required and not values.get(f.name):
            errors[f.name] = ["Please fill this in." if f.kind != "checkboxes" else "Choose at least one."]
    for section in form.all_sections():
        if section.needs_one_of and not any(values.get(f.name) for f in section.fields):
            errors.update({f.name: [section.needs_one_of] for f in section.fields})
    if not values.get(CONSENT_FIELD):
        errors[CONSENT_FIELD] = ["We can only send your request to agents if you agree to be contacted: tick the box."]
    return errors


def payload(form: LineForm, values: Submitted, user_agent: str | None) -> dict[str, Any]:
    """The api's quote request for this line, built from the entered values, the consent box, the
    digest of the consent text the page showed and the browser's user agent (the api records on its
    own where, when and from which address the person agreed)."""
    tree: dict[str, Any] = {}
    filled = set()
    for f in form.fields():
        value = _value(f, values.get(f.name))
        if value is not None:
            _put(tree, f.name, value)
            filled.add(f.name.rpartition(".")[0])
    for name, constant in form.constants.items():
        if name.rpartition(".")[0] in filled:
            _put(tree, name, constant)
    body: dict[str, Any] = _lists(tree)
    body.update(line=form.line, consent=bool(values.get(CONSENT_FIELD)))
    body.setdefault("details", {})
    # A page without the input (rendered by the previous release) names no text: the api records
    # its current one, for that release only.
    if values.get(CONSENT_TEXT_FIELD):
        body[CONSENT_TEXT_FIELD] = values[CONSENT_TEXT_FIELD]
    if user_agent:
        body["user_agent"] = user_agent[:MAX_USER_AGENT]
    return body


def _value(f: FormField, raw: str | list[str] | None) -> Any:
    if f.kind == "checkbox":
        return bool(raw)
    if f.kind == "checkboxes":
        return list(raw) if isinstance(raw, list) and raw else None
    if isinstance(raw, str) and raw:
        return raw
    return None


def _put(tree: dict[str, Any], path: str, value: Any) -> None:
    node = tree
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _lists(node: Any) -> Any:
    """Turn objects whose keys are all digits ({"0": ..., "1": ...}) into lists, in key order."""
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def place_errors(form: LineForm, errors: Iterable[FieldError]) -> tuple[dict[str, list[str]], list[str]]:
    """The api's field errors by input name; those that fit no input go to the summary."""
    names = [f.name for f in form.fields()] + [CONSENT_FIELD]
    by_field: dict[str, list[str]] = {}
    unplaced: list[str] = []
    for error in errors:
        reason = error.reason.removeprefix("Value error, ")
        target = _target(error.field, names)
        if target is None:
            unplaced.append(reason)
        else:
            by_field.setdefault(target, []).append(reason)
    return by_field, unplaced


def _target(path: str, names: list[str]) -> str | None:
    while path:
        if path in _ERROR_TARGETS:
            return _ERROR_TARGETS[path]
        if path in names:
            return path
        under = [n for n in names if n.startswith(path + ".")]
        if under:
            return under[0]
        path = path.rpartition(".")[0]
    return None
