"""The offline lead embedder: signed feature hashing into a fixed 128-dimension vector, and the
lead's note words for word search.

No model is downloaded or loaded: a lead becomes a bag of named features (``line=auto``,
``auto.tier=premium``, ``note:renewal``...), each feature is hashed with BLAKE2b to one of
``EMBEDDING_DIM`` slots and a sign (+1/-1, so collisions cancel out on average instead of piling
up), weighted, summed, and the sum is L2-normalised. The same row gives the same vector in every
process and on every machine (BLAKE2b, never Python's salted ``hash()``), so vectors written by one
worker are comparable with those of another. Cosine similarity between two vectors approximates
the weighted overlap of their features: that is "leads like this one" and best match.

**Word search has a space of its own** (``LeadEmbedding.words``, ``query_words``). In the 128 slots,
a note word shares its slot with structured features that weigh more (``line=``, ``state=``,
``source=``...), so a query word would find the leads whose line or state collides with it rather
than the lead whose notes hold it. The word vector holds the note words alone, each in one of
``WORD_SLOTS`` (2^32) slots of its own (BLAKE2b again, keyed with a secret: ``word_key``), so two
words of a vocabulary almost never share one: the cosine of a query's word vector and a lead's is
above 0 only when the lead's notes hold a word of the query, and higher the more of the note those
words are. The vector store keeps it as a sparse vector (``stores.vectors``).

**Dimension.** ``EMBEDDING_DIM`` = 128 floats, unit length; the word vector is sparse: at most
``_MAX_NOTE_TOKENS`` (200) slots of ``WORD_SLOTS`` are set, unit length too. A change of the dimension,
the features, their weights, the word slots or how the store keeps them needs a new
``EMBEDDING_VERSION`` (and, when the hashing changes, a new ``_PERSON``/``_WORD_PERSON``): each
version writes a collection of its own (``stores.vectors.versioned_collection``), which the processes
of a build fill from the database when they create it, while the release before goes on with its
own during a rollout. ``hash-v2`` added the word vector to ``hash-v1``'s 128 floats, unchanged;
``hash-v3`` keys the word slots (``word_key``), the 128 floats unchanged. ``hash-v2``'s word slots
were not keyed: its collection (and every snapshot of it) gives the words of its slots back to
whoever hashes a word list, so it is dropped once no process of the release before runs
(``leadgen vectors rebuild --drop-other-versions``).

**What goes in** (all optional; missing or malformed values are skipped, never an error):

- ``line``; ``state`` and its US Census region; ``origin``; exclusive/shared;
- ``source`` (or ``source_id``) and ``campaign``;
- ``score`` in 10-point buckets (neighbouring buckets share half a weight, so 71 is near 69);
- ``currently_insured`` and ``current_carrier`` (the carrier's name, not the person);
- ``details`` per line, as bands rather than raw values:
  auto - driver and vehicle counts, incidents, SR-22, years licensed, vehicle model-year band,
  make, use, mileage, coverage tier; home - year built, square feet, construction, roof age,
  claims, dwelling coverage; life - product, term length, face amount band, tobacco;
  health - household size, spouse/children/seniors, income band, qualifying event, Medicare
  interest; commercial - entity type, class code, years in business, employee and revenue size,
  coverages wanted;
- ``notes``: lower-cased word tokens, after removing e-mail addresses, URLs, anything with a digit
  (phone numbers, street numbers, ZIP codes) and capitalised words inside a sentence (usually names).

**What never goes in:** contact PII - names, e-mail, phone, street, city, ZIP code, date of birth,
IP address, user agent, consent data, the keyed identity hashes, the commercial legal name, and the
life applicant's height and weight. The 128 floats are also one-way: 128 sums of colliding hashed
features cannot be turned back into the text that produced them. Neither they nor the note words
are a payload.

**The word slots are keyed** (``word_key``): BLAKE2b keyed with a secret derived from
``LEADGEN_SECURITY_PII_HASH_KEY``, so every process of a platform puts a word in the same slot, and
word search (``query_words``, with the same key) finds what the pipeline wrote. Without the key,
whoever reads Qdrant or a snapshot of it learns how many distinct words each lead's notes hold (and,
from the weights, how often each recurs), which leads share words (equal slots) and, over many
leads, how common each slot is; not the words: hashing a word list gives other slots. With the key,
which also keys the identity hashes of de-duplication and the do-not-contact list, a word list
maps the slots back to words, as it did for anyone before ``hash-v3``. That key is not rotated
(the identity hashes would stop matching; docs/KUBERNETES_SECURITY.md); were it rotated, word
search would miss every lead embedded before until ``leadgen vectors rebuild`` embeds them again
with the new key (their notes are in the database): the collection's name does not change with it.

**Cost** (``.venv/bin/python bench/embedding/run.py --leads 3000``, synthetic leads with notes of up
to 80 words): p50 0.14-0.16 ms, p99 0.27-0.41 ms of CPU per lead, keyed word slots included
(``hash-v2``, whose unkeyed slots were cached, took 0.12-0.15 and 0.23-0.36 ms in runs paired with
them on the same machine), against a budget of 5 ms. Pure Python and numpy, no model file, nothing
loaded at start-up.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from typing import Any

import numpy as np

from leadgen.core.security import keyed_hash
from leadgen.kit.numbers import finite_number

EMBEDDING_DIM = 128
EMBEDDING_VERSION = "hash-v3"
# The slots of the word vector: 32 bits of BLAKE2b, the indices a Qdrant sparse vector takes.
WORD_SLOTS = 2**32

# Personalisation of BLAKE2b: a new version of the features gets new slots, not mixed-up old ones.
_PERSON = b"leadgen.emb.v1"
_WORD_PERSON = b"leadgen.words.v3"

# Relative weight of each feature group before normalisation. The line dominates, because leads of
# different lines are rarely comparable; notes are one block whose total weight is _NOTES_WEIGHT.
_W_LINE = 2.0
_W_STATE = 1.0
_W_REGION = 0.5
_W_SOURCE = 0.8
_W_CAMPAIGN = 0.6
_W_SCORE = 1.0
_W_INSURED = 0.7
_W_CARRIER = 0.4
_W_ORIGIN = 0.4
_W_DETAIL = 0.6
_NOTES_WEIGHT = 1.0
_MAX_NOTE_TOKENS = 200

# US Census Bureau regions (census.gov, "Census Regions and Divisions of the United States").
_REGIONS: dict[str, tuple[str, ...]] = {
    "northeast": ("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"),
    "midwest": ("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"),
    "south": ("DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV", "AL", "KY", "MS", "TN", "AR", "LA", "OK", "TX"),
    "west": ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"),
    "territory": ("PR", "VI", "GU", "AS", "MP"),
}
# Every state intake takes (``leads.geography.STATES``) has its region.
REGION_OF = {state: region for region, states in _REGIONS.items() for state in states}

_EMAIL_OR_URL = re.compile(r"\S+@\S+|\b(?:https?://|www\.)\S+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_][\w'-]*")
_SENTENCE_END = frozenset(".!?")
_STOPWORD_TEXT = (
    "a an and are as at be but by for from has have he her his i if in is it its me my no not of on or our "
    "she so that the their them they this to was we were will with you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

Features = dict[str, float]
# A sparse vector: slot (0 to WORD_SLOTS - 1) -> weight, the slots not given being 0.
WordVector = dict[int, float]


@dataclass(frozen=True)
class WordKey:
    """The keyed hash of the word slots (``word_key``): BLAKE2b set up with the secret and
    ``_WORD_PERSON`` once, copied for each word."""

    hasher: blake2b

    def slot(self, token: str) -> int:
        hasher = self.hasher.copy()
        hasher.update(token.encode())
        return int.from_bytes(hasher.digest(), "little")


def word_key(pii_hash_key: str) -> WordKey:
    """The key of the word slots, derived from ``LEADGEN_SECURITY_PII_HASH_KEY`` and the embedding
    version (apart from every identity hash of that key: their kinds differ)."""
    secret = bytes.fromhex(keyed_hash(pii_hash_key, "embedding-word-slots", EMBEDDING_VERSION))
    return WordKey(blake2b(digest_size=4, key=secret, person=_WORD_PERSON))


@dataclass(frozen=True)
class LeadEmbedding:
    """What the vector store keeps of a lead: ``vector`` (``EMBEDDING_DIM`` floats, unit length) for
    leads like it and best match, ``words`` (its note words, unit length; empty without any) for
    word search."""

    vector: list[float]
    words: WordVector


@lru_cache(maxsize=65536)
def _slot(feature: str) -> tuple[int, float]:
    """The slot and sign of one feature: stable across processes, cached because features repeat."""
    value = int.from_bytes(blake2b(feature.encode(), digest_size=8, person=_PERSON).digest(), "little")
    return value % EMBEDDING_DIM, 1.0 if value >> 63 else -1.0


def embed_lead(row: Mapping[str, Any], word_key: WordKey) -> LeadEmbedding:
    """The embedding of a lead's non-PII attributes and its note words (see the module docstring).

    Args:
        row: the lead's columns by name (``line``, ``state``, ``source`` or ``source_id``,
            ``campaign``, ``score``, ``currently_insured``, ``details``, ``notes``, ...). Other keys,
            including every contact field, are ignored.
        word_key: the platform's key of the word slots (the module's ``word_key``).

    Returns:
        ``EMBEDDING_DIM`` floats with an L2 norm of 1, and the word vector of the notes.
    """
    tokens = _note_tokens(row.get("notes"))
    return LeadEmbedding(_vectorise(lead_features(row), tokens), _word_vector(tokens, word_key))


def query_words(text: str, word_key: WordKey) -> WordVector:
    """The word vector of a search query, comparable with the ``words`` of lead embeddings of the
    same ``word_key``: the words the notes keep (see ``notes`` in the module docstring); empty when
    ``text`` has none."""
    return _word_vector(_note_tokens(text), word_key)


def lead_features(row: Mapping[str, Any]) -> Features:
    """The weighted structured features of a lead (notes excluded), for inspection and tests."""
    features: Features = {}
    line = _label(row.get("line"))
    _add(features, "line", line, _W_LINE)
    state = _label(row.get("state"))
    if state is not None:
        state = state.upper()
        _add(features, "state", state, _W_STATE)
        _add(features, "region", REGION_OF.get(state), _W_REGION)
    _add(features, "origin", _label(row.get("origin")), _W_ORIGIN)
    exclusive = row.get("exclusive")
    if isinstance(exclusive, bool):
        _add(features, "exclusive", str(exclusive).lower(), _W_ORIGIN)
    _add(features, "source", _label(row.get("source", row.get("source_id"))), _W_SOURCE)
    _add(features, "campaign", _label(row.get("campaign")), _W_CAMPAIGN)
    score = finite_number(row.get("score"))
    if score is not None:
        _ordinal(features, "score", min(max(int(score), 0), 100) // 10, _W_SCORE)
    insured = row.get("currently_insured")
    if isinstance(insured, bool):
        _add(features, "insured", str(insured).lower(), _W_INSURED)
    _add(features, "carrier", _label(row.get("current_carrier")), _W_CARRIER)
    details = row.get("details")
    if line is not None and isinstance(details, Mapping):
        adder = _DETAILS.get(line)
        if adder is not None:
            adder(features, details)
    return features


# -- vectorising ------------------------------------------------------------------------------


def _vectorise(features: Features, tokens: list[str]) -> list[float]:
    vector = np.zeros(EMBEDDING_DIM, dtype=np.float64)
    for feature, weight in features.items():
        slot, sign = _slot(feature)
        vector[slot] += sign * weight
    if tokens:
        counts = Counter(tokens)
        # Each token weighs sqrt(count); the block is scaled to _NOTES_WEIGHT whatever its length,
        # so a long note cannot drown out the structured features.
        scale = _NOTES_WEIGHT / math.sqrt(sum(counts.values()))
        for token, count in counts.items():
            slot, sign = _slot("note:" + token)
            vector[slot] += sign * math.sqrt(count) * scale
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        # Nothing usable (an empty row): a fixed unit vector rather than a zero one, which cosine
        # distance cannot handle.
        slot, sign = _slot("empty")
        vector[slot] = sign
        norm = 1.0
    result: list[float] = (vector / norm).tolist()
    return result


def _word_vector(tokens: list[str], word_key: WordKey) -> WordVector:
    """Each distinct token in its word slot, weighing sqrt(count), the whole of unit length."""
    words: WordVector = {}
    for token, count in Counter(tokens).items():
        slot = word_key.slot(token)
        words[slot] = words.get(slot, 0.0) + math.sqrt(count)
    norm = math.sqrt(sum(weight * weight for weight in words.values()))
    return {slot: weight / norm for slot, weight in words.items()}


def _note_tokens(notes: object) -> list[str]:
    if not isinstance(notes, str) or not notes:
        return []
    text = _EMAIL_OR_URL.sub(" ", notes)
    tokens: list[str] = []
    previous_end = 0
    for match in _WORD.finditer(text):
        word = match.group()
        gap = text[previous_end : match.start()]
        sentence_start = previous_end == 0 or any(ch in _SENTENCE_END for ch in gap)
        previous_end = match.end()
        if word[0].isupper() and not word.isupper() and not sentence_start:
            continue  # capitalised inside a sentence: most likely a name
        if any(ch.isdigit() for ch in word):
            continue
        token = word.lower().strip("'-")
        if len(token) < 3 or token in _STOPWORDS:
            continue
        tokens.append(token)
        if len(tokens) >= _MAX_NOTE_TOKENS:
            break
    return tokens


# -- feature helpers --------------------------------------------------------------------------


def _add(features: Features, name: str, value: str | None, weight: float) -> None:
    if value is None:
        return
    key = f"{name}={value}"
    features[key] = features.get(key, 0.0) + weight


def _ordinal(features: Features, name: str, index: int, weight: float) -> None:
    """An ordered band: its own slot at full weight and its neighbours at half weight."""
    _add(features, name, str(index), weight)
    _add(features, name, str(index - 1), weight * 0.5)
    _add(features, name, str(index + 1), weight * 0.5)


def _band(value: float, edges: Iterable[float]) -> int:
    """The index of the first edge above ``value`` (edges ascending); len(edges) when none is."""
    index = 0
    for edge in edges:
        if value < edge:
            return index
        index += 1
    return index


def _banded(features: Features, name: str, value: object, edges: tuple[float, ...], weight: float = _W_DETAIL) -> None:
    number = finite_number(value)
    if number is not None:
        _ordinal(features, name, _band(number, edges), weight)


def _label(value: object) -> str | None:
    """A categorical value as a short, case-folded label; None for anything unusable."""
    if value is None or isinstance(value, bool):
        return None
    raw = getattr(value, "value", value)  # enums
    text = str(raw).strip().lower()
    return text[:64] if text else None


def _flag(features: Features, name: str, value: object, weight: float = _W_DETAIL) -> None:
    if isinstance(value, bool):
        _add(features, name, str(value).lower(), weight)


def _records(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


# -- per-line details -------------------------------------------------------------------------

_COUNT_EDGES = (2, 3, 4)  # 1, 2, 3, 4+
_INCIDENT_EDGES = (1, 2, 3)  # 0, 1, 2, 3+


def _auto(features: Features, details: Mapping[str, Any]) -> None:
    drivers = _records(details.get("drivers"))
    vehicles = _records(details.get("vehicles"))
    if drivers:
        _banded(features, "auto.drivers", len(drivers), _COUNT_EDGES)
        incidents = sum(int(finite_number(d.get("incidents_last_5_years")) or 0) for d in drivers)
        _banded(features, "auto.incidents", incidents, _INCIDENT_EDGES)
        _flag(features, "auto.sr22", any(d.get("sr22_required") is True for d in drivers))
        ages = [n for n in (finite_number(d.get("age_first_licensed")) for d in drivers) if n is not None]
        if ages:
            _banded(features, "auto.first_licensed", min(ages), (16, 18, 21, 25))
    if vehicles:
        _banded(features, "auto.vehicles", len(vehicles), _COUNT_EDGES)
        for vehicle in vehicles:
            weight = _W_DETAIL / len(vehicles)
            _banded(features, "auto.model_year", vehicle.get("year"), (2000, 2010, 2015, 2020, 2024), weight)
            _add(features, "auto.make", _label(vehicle.get("make")), weight)
            _add(features, "auto.use", _label(vehicle.get("use")), weight)
            _banded(features, "auto.mileage", vehicle.get("annual_mileage"), (5000, 10000, 15000, 25000), weight)
    _add(features, "auto.tier", _label(details.get("coverage_tier")), _W_DETAIL)


def _home(features: Features, details: Mapping[str, Any]) -> None:
    _banded(features, "home.built", details.get("year_built"), (1940, 1970, 1990, 2005, 2015))
    _banded(features, "home.sqft", details.get("square_feet"), (1000, 1600, 2400, 3500, 5000))
    _add(features, "home.construction", _label(details.get("construction")), _W_DETAIL)
    _banded(features, "home.roof_age", details.get("roof_age_years"), (5, 10, 20))
    _banded(features, "home.claims", details.get("claims_last_5_years"), _INCIDENT_EDGES)
    _banded(features, "home.dwelling", details.get("dwelling_coverage"), (150_000, 300_000, 500_000, 1_000_000))


def _life(features: Features, details: Mapping[str, Any]) -> None:
    _add(features, "life.product", _label(details.get("product")), _W_DETAIL * 1.5)
    _banded(features, "life.term", details.get("term_years"), (15, 20, 30))
    _banded(
        features, "life.face", details.get("face_amount"), (25_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000)
    )
    _flag(features, "life.tobacco", details.get("tobacco"))


def _health(features: Features, details: Mapping[str, Any]) -> None:
    members = _records(details.get("household"))
    if members:
        _banded(features, "health.household", len(members), (2, 3, 4, 6))
        relationships = [m.get("relationship") for m in members]
        _flag(features, "health.spouse", "spouse" in relationships)
        ages = [n for n in (finite_number(m.get("age")) for m in members) if n is not None]
        _flag(features, "health.children", any(age < 18 for age in ages))
        _flag(features, "health.seniors", any(age >= 65 for age in ages))
    _banded(features, "health.income", details.get("annual_income"), (25_000, 50_000, 100_000, 200_000))
    event = _label(details.get("qualifying_event"))
    _flag(features, "health.qualifying_event", event is not None)
    _add(features, "health.event", event, _W_DETAIL * 0.5)
    _flag(features, "health.medicare", details.get("medicare_interest"))


def _commercial(features: Features, details: Mapping[str, Any]) -> None:
    _add(features, "commercial.entity", _label(details.get("entity_type")), _W_DETAIL)
    _add(features, "commercial.class", _label(details.get("class_code")), _W_DETAIL)
    _banded(features, "commercial.years", details.get("years_in_business"), (1, 3, 5, 10, 25))
    _banded(features, "commercial.employees", details.get("employees"), (1, 5, 20, 100, 500))
    _banded(features, "commercial.revenue", details.get("annual_revenue"), (100_000, 500_000, 2_000_000, 10_000_000))
    coverages = details.get("coverages")
    if isinstance(coverages, list) and coverages:
        weight = _W_DETAIL / math.sqrt(len(coverages))
        for coverage in coverages:
            _add(features, "commercial.coverage", _label(coverage), weight)


_DETAILS = {"auto": _auto, "home": _home, "life": _life, "health": _health, "commercial": _commercial}
