"""The local classifier: intent and urgency from a lead's free-text notes by transparent phrase rules.

How it decides, so an agent (and a reviewer) can follow every answer:

1. The notes are lower-cased, apostrophes straightened and whitespace collapsed.
2. Every rule is a phrase pattern with a label (an intent or an urgency) and a weight; rules tied to
   an insurance line ("just bought a car", "closing on the house") only apply to that line.
3. Where matches of the same kind (intent or urgency) overlap, the heaviest, then the longest, then
   the earliest wins: "policy expires" beats "current policy", "not ready yet" is one phrase.
4. A match is **negated** when one of the three words before it is a negation cue ("not", "no",
   "never", any "...n't", "without"), looking only inside its clause and after the end of the
   previous phrase found. A clause ends at punctuation or at "but", "however", "although", "though",
   "except", "and", "so", "because"; so "no accidents and want to buy" is not negated, nor is
   "right now" in "don't have insurance right now". A negated match counts for the rule's
   ``negated`` label ("not ready to buy" -> just browsing, "no rush" -> low urgency), or not at all.
5. Weights are summed per label. Renewal evidence absorbs comparing evidence (shopping around because
   the renewal came in high is renewal shopping). Intent ties go to buy_now, renewal_shopping,
   comparing, just_browsing in that order; no match at all is ``unknown``.
6. Urgency ties go to the higher level (a concrete deadline beats "no rush"). Without any urgency
   phrase, the intent sets it: buy_now high, renewal_shopping and comparing medium, otherwise low.

Pure and fast (a few dozen precompiled patterns over at most a few thousand characters).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass

from leadgen.insights.schemas import Intent, Urgency

RULES_VERSION = "keyword-rules-1"
Label = Intent | Urgency

NEGATION_WINDOW = 3
_NEGATION_CUES = frozenset({"not", "no", "never", "without", "nor", "neither", "hardly", "cannot", "nothing"})
_CLAUSE_BREAK = re.compile(r"[.!?;:,\n()]|\b(?:but|however|although|though|except|and|so|because)\b")
_WORD = re.compile(r"[a-z0-9']+")

INTENT_PRIORITY = (Intent.BUY_NOW, Intent.RENEWAL_SHOPPING, Intent.COMPARING, Intent.JUST_BROWSING)
URGENCY_PRIORITY = (Urgency.HIGH, Urgency.MEDIUM, Urgency.LOW)
DEFAULT_URGENCY = {
    Intent.BUY_NOW: Urgency.HIGH,
    Intent.RENEWAL_SHOPPING: Urgency.MEDIUM,
    Intent.COMPARING: Urgency.MEDIUM,
    Intent.JUST_BROWSING: Urgency.LOW,
    Intent.UNKNOWN: Urgency.LOW,
}


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    label: Label
    weight: int = 2
    lines: frozenset[str] | None = None
    negated: Label | None = None


@dataclass(frozen=True)
class Match:
    """One phrase found in the notes and what it counted for."""

    phrase: str
    label: Label
    weight: int
    start: int
    end: int
    negated_by: str | None = None

    @property
    def kind(self) -> str:
        return "intent" if isinstance(self.label, Intent) else "urgency"


@dataclass(frozen=True)
class RuleResult:
    intent: Intent
    urgency: Urgency
    matches: tuple[Match, ...]
    urgency_from_intent: bool

    @property
    def evidence(self) -> tuple[str, ...]:
        """One line per phrase in text order: "'no rush' -> urgency low (negated)"."""
        labels: dict[tuple[int, int, str, bool], list[str]] = {}
        for m in self.matches:
            labels.setdefault((m.start, m.end, m.phrase, m.negated_by is not None), []).append(
                f"{m.kind} {m.label.value}"
            )
        return tuple(
            f"'{phrase}' -> {' + '.join(found)}{' (negated)' if negated else ''}"
            for (_, _, phrase, negated), found in labels.items()
        )

    def reason(self) -> str:
        def phrases(kind: type[Intent] | type[Urgency], label: Label) -> str:
            found = [f"'{m.phrase}'" for m in self.matches if isinstance(m.label, kind) and m.label == label]
            return ", ".join(found)

        if self.intent is Intent.UNKNOWN:
            intent_part = "no phrase about buying, comparing, renewing or browsing"
        else:
            intent_part = f"{self.intent.value} from {phrases(Intent, self.intent)}"
        if self.urgency_from_intent:
            urgency_part = f"urgency {self.urgency.value} (no time phrase; implied by the intent)"
        else:
            urgency_part = f"urgency {self.urgency.value} from {phrases(Urgency, self.urgency)}"
        return f"{intent_part}; {urgency_part}"


def _p(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


def _rule(label: Label, weight: int, *alternatives: str, lines: str = "", negated: Label | None = None) -> Rule:
    return Rule(_p(*alternatives), label, weight, frozenset(lines.split()) if lines else None, negated)


B, C, R, J = Intent.BUY_NOW, Intent.COMPARING, Intent.RENEWAL_SHOPPING, Intent.JUST_BROWSING
HIGH, MEDIUM, LOW = Urgency.HIGH, Urgency.MEDIUM, Urgency.LOW

# Being without cover is both a reason to buy and a reason to hurry.
_UNINSURED = (
    r"no (?:current |active )?(?:insurance|coverage|policy)",
    r"uninsured",
    r"(?:insurance|coverage|policy) (?:has |had |just )?(?:lapsed|expired|ended|was cancell?ed|got cancell?ed)",
    r"lapse in (?:my |our )?coverage",
    r"(?:don't|do not|doesn't|does not|didn't) (?:currently )?have (?:any )?(?:insurance|coverage)",
    r"without (?:any )?(?:insurance|coverage)",
)
# Events by line that make the purchase due now.
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "auto": (
        r"(?:just )?(?:bought|buying|purchased|picking up|pick up) (?:a|the|my|our) (?:new |used )?"
        r"(?:car|truck|vehicle|suv|van|motorcycle)",
        r"at the dealer(?:ship)?",
        r"proof of insurance",
        r"sr-?22",
    ),
    "home": (
        r"clos(?:ing|e) (?:on|date|next|this)",
        r"(?:lender|mortgage company|bank) (?:requires|needs|is asking)",
        r"escrow",
        r"under contract",
        r"insurance binder",
    ),
    "life": (
        r"(?:lender|mortgage|divorce decree|court order) requires",
        r"(?:employer|work|group) (?:coverage|policy) (?:ends|is ending|ended)",
    ),
    "health": (
        r"lost (?:my |our |his |her )?(?:job|coverage|insurance|health insurance)",
        r"qualifying (?:life )?event",
        r"cobra (?:ends|is ending|runs out|expires)",
        r"special enrollment",
    ),
    "commercial": (
        r"(?:contract|client|customer|landlord|lease|general contractor) (?:requires|needs|is requiring)",
        r"certificate of insurance",
        r"coi",
    ),
}

INTENT_RULES: tuple[Rule, ...] = (
    _rule(
        B,
        3,
        r"ready to (?:buy|purchase|sign|start|go|move forward|get started|switch|enroll)",
        r"(?:want|wants|need|needs|would like|looking|going|plan|planning) to (?:buy|purchase|bind|enroll|sign up)",
        r"buy (?:it |a policy |coverage )?(?:today|now|this week)",
        r"sign (?:me )?up",
        r"bind (?:the |a )?(?:policy|coverage)",
        r"(?:start|activate) (?:the |a |my )?(?:policy|coverage) (?:today|now|asap|immediately|right away)",
        negated=J,
    ),
    _rule(B, 2, r"need (?:insurance|coverage|a policy)", r"get (?:me )?covered", negated=J),
    _rule(B, 1, r"call me", r"please call", r"call back", r"best time to (?:call|reach)"),
    _rule(B, 3, *_UNINSURED),
    *(_rule(B, 3, *phrases, lines=line) for line, phrases in _TRIGGERS.items()),
    _rule(B, 1, r"new baby", r"(?:just |recently )?(?:got )?married", r"bought a (?:house|home)", lines="life"),
    _rule(B, 2, r"(?:new|starting a|opening (?:a|my|our)) business", lines="commercial"),
    _rule(
        C,
        2,
        r"compar(?:e|es|ing|ison)",
        r"shop(?:ping)? around",
        r"other (?:quotes|companies|carriers|insurers|options)",
        r"(?:another|second|more|multiple|several|few) quotes?",
        r"better (?:rate|price|deal|premium|coverage)",
        r"lower (?:my |our |the )?(?:rate|premium|price|payment|bill)",
        r"cheaper",
        r"(?:beat|match) (?:my |our )?(?:current )?(?:rate|price|quote|premium)",
        r"save (?:money|on)",
        r"best (?:rate|price|deal)",
        r"(?:too|very) (?:expensive|high)",
        r"paying too much",
        r"switch(?:ing)? (?:from|carriers|companies|insurers|providers)",
        negated=B,
    ),
    _rule(
        R,
        3,
        r"renew(?:al|als|ing|s)?",
        r"(?:policy|coverage|plan) (?:expires|is expiring|expiring|ends|is ending|is up)",
        r"expir(?:es|ing|ation)",
        r"(?:premium|rate|price|bill)s? (?:\w+ ){0,2}?(?:went up|gone up|go up|goes up|going up|increased|jumped"
        r"|doubled|rose|spiked)",
        r"(?:rate|price|premium) (?:increase|hike)",
        r"raised (?:my|our|the) (?:rate|premium|price)",
    ),
    _rule(R, 1, r"current (?:policy|carrier|insurer|company|provider|plan)"),
    _rule(R, 2, r"open enrollment", r"annual enrollment", lines="health"),
    _rule(
        J,
        2,
        r"just (?:browsing|looking|curious|checking|wondering|researching|getting an idea)",
        r"curious",
        r"ballpark",
        r"rough (?:idea|estimate|quote|number|price)",
        r"(?:get|getting|have|want) an idea",
        r"for (?:future )?reference",
        r"planning ahead",
        r"(?:doing|do some|some) research",
        r"information only",
        negated=B,
    ),
    _rule(J, 3, r"not (?:quite )?ready(?: yet)?", r"no (?:plans|intention) to (?:buy|switch|purchase)"),
)

URGENCY_RULES: tuple[Rule, ...] = (
    _rule(
        HIGH,
        3,
        r"asap",
        r"a\.s\.a\.p",
        r"urgent(?:ly)?",
        r"immediately",
        r"right (?:away|now)",
        r"as soon as possible",
        r"today",
        r"tonight",
        r"tomorrow",
        r"this (?:morning|afternoon|evening)",
        r"same day",
        r"hurry",
        r"rush",
        r"emergency",
        r"(?:by|before) (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|the weekend|end of (?:the )?day)",
        negated=LOW,
    ),
    _rule(HIGH, 2, r"this week", r"need it now", negated=LOW),
    _rule(HIGH, 2, *_UNINSURED),
    *(_rule(HIGH, 3, *phrases, lines=line) for line, phrases in _TRIGGERS.items()),
    _rule(
        MEDIUM,
        2,
        r"soon",
        r"next week",
        r"this month",
        r"(?:next|end of (?:the|this)?) ?month",
        r"coming up",
        r"before (?:it|my policy|the policy|my plan|the plan) (?:expires|renews|ends)",
        negated=LOW,
    ),
    _rule(
        LOW,
        2,
        r"whenever",
        r"some ?day",
        r"eventually",
        r"down the road",
        r"next year",
        r"in the future",
        r"(?:take|taking) (?:my|our) time",
        r"no (?:set |real )?(?:time ?frame|timeline|deadline)",
        r"flexible",
    ),
)

# "in 3 days", "within two weeks", "next 45 days": the span of time decides the urgency.
_QUANTITY = (
    r"\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|(?:a )?couple(?: of)?|(?:a )?few|several"
)
_TIMEFRAME = re.compile(rf"\b(?:in|within|next|the next) ({_QUANTITY}) (day|week|month)s?\b")
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple": 2, "few": 3, "several": 4,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30}
TIMEFRAME_WEIGHT = 3
HIGH_WITHIN_DAYS = 7
MEDIUM_WITHIN_DAYS = 45


def normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def _negation_cue(text: str, start: int, floor: int) -> tuple[str, int] | None:
    """The negation word (and where it starts) among the few words between ``floor`` and ``start``."""
    for word in reversed(list(_WORD.finditer(text, floor, start))[-NEGATION_WINDOW:]):
        token = word.group(0)
        if token in _NEGATION_CUES or token.endswith("n't") or token in {"dont", "cant", "wont", "isnt", "didnt"}:
            return token, word.start()
    return None


def _last_before(positions: list[int], start: int) -> int:
    index = bisect.bisect_right(positions, start)
    return positions[index - 1] if index else 0


def _timeframe_days(quantity: str, unit: str) -> int:
    quantity = quantity.removeprefix("a ").removesuffix(" of")
    count = int(quantity) if quantity.isdigit() else _NUMBER_WORDS[quantity]
    return count * _UNIT_DAYS[unit]


Hit = tuple[Label, int, Label | None, int, int]  # label, weight, negated label, start, end


def _timeframe_hits(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for hit in _TIMEFRAME.finditer(text):
        days = _timeframe_days(hit.group(1), hit.group(2))
        level = HIGH if days <= HIGH_WITHIN_DAYS else MEDIUM if days <= MEDIUM_WITHIN_DAYS else LOW
        hits.append((level, TIMEFRAME_WEIGHT, None, hit.start(), hit.end()))
    return hits


def _rule_hits(text: str, rules: Iterable[Rule], line: str) -> list[Hit]:
    return [
        (rule.label, rule.weight, rule.negated, hit.start(), hit.end())
        for rule in rules
        if rule.lines is None or line in rule.lines
        for hit in rule.pattern.finditer(text)
    ]


def _resolve(text: str, hits: list[Hit], breaks: list[int], ends: list[int]) -> list[Match]:
    """Non-overlapping matches (heaviest, then longest, then earliest first), negation applied.

    A negation cue is looked for inside the clause (after the last break in ``breaks``) and after the
    end of the last phrase found before the match (``ends``): in "don't have insurance right now" the
    "don't" belongs to its own phrase and does not negate "right now".
    """
    kept: list[Hit] = []  # sorted by start and never overlapping, so only the neighbours can collide
    for hit in sorted(hits, key=lambda h: (-h[1], -(h[4] - h[3]), h[3])):
        index = bisect.bisect_left([k[3] for k in kept], hit[3])
        if (index and kept[index - 1][4] > hit[3]) or (index < len(kept) and kept[index][3] < hit[4]):
            continue
        kept.insert(index, hit)
    matches: list[Match] = []
    for label, weight, negated, start, end in kept:
        cue = _negation_cue(text, start, max(_last_before(breaks, start), _last_before(ends, start)))
        if cue is None:
            matches.append(Match(text[start:end], label, weight, start, end))
        elif negated is not None:
            matches.append(Match(text[cue[1] : end], negated, weight, cue[1], end, cue[0]))
    return matches


def _scores(matches: Iterable[Match]) -> dict[Label, int]:
    scores: dict[Label, int] = {}
    for match in matches:
        scores[match.label] = scores.get(match.label, 0) + match.weight
    return scores


def classify(notes: str | None, line: str = "") -> RuleResult:
    """Intent and urgency of one lead's notes, with the matches that decided them."""
    text = normalise(notes or "")
    line = line.strip().lower()
    intent_hits = _rule_hits(text, INTENT_RULES, line)
    urgency_hits = _rule_hits(text, URGENCY_RULES, line) + _timeframe_hits(text)
    breaks = [b.end() for b in _CLAUSE_BREAK.finditer(text)]
    ends = sorted({hit[4] for hit in intent_hits + urgency_hits})
    intent_matches = _resolve(text, intent_hits, breaks, ends)
    urgency_matches = _resolve(text, urgency_hits, breaks, ends)

    scores = _scores(intent_matches)
    if scores.get(R):
        scores[R] += scores.pop(C, 0)
    best = max((scores.get(i, 0) for i in INTENT_PRIORITY), default=0)
    intent = next((i for i in INTENT_PRIORITY if best and scores.get(i, 0) == best), Intent.UNKNOWN)

    levels = _scores(urgency_matches)
    top = max(levels.values(), default=0)
    urgency = next((u for u in URGENCY_PRIORITY if top and levels.get(u, 0) == top), DEFAULT_URGENCY[intent])

    # Every match, overruled ones too, in the order of the text.
    matches = tuple(sorted(intent_matches + urgency_matches, key=lambda m: m.start))
    return RuleResult(intent, urgency, matches, urgency_from_intent=top == 0)
