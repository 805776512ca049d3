"""The offline embedder: dimension, determinism across processes, what counts and what never does,
and the word vectors of word search."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from hashlib import blake2b
from typing import Any

import pytest

from leadgen.stores.embedding import (
    EMBEDDING_DIM,
    WORD_SLOTS,
    WordVector,
    embed_lead,
    lead_features,
    query_words,
    word_key,
)

# Stands in for LEADGEN_SECURITY_PII_HASH_KEY, of which the word slots' key is derived.
PII_HASH_KEY = "test-pii-hash-key"
WORD_KEY = word_key(PII_HASH_KEY)


def lead(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "line": "auto",
        "state": "CA",
        "origin": "web",
        "exclusive": True,
        "source_id": "6f1c8a2e-1111-4c3b-9d7e-000000000001",
        "campaign": "spring-auto",
        "score": 72,
        "currently_insured": True,
        "current_carrier": "Acme Mutual",
        "details": {
            "drivers": [{"age_first_licensed": 17, "incidents_last_5_years": 1, "sr22_required": False}],
            "vehicles": [{"year": 2019, "make": "Honda", "model": "Civic", "use": "commute", "annual_mileage": 12000}],
            "coverage_tier": "standard",
        },
        "notes": "Wants a quote before the renewal next month; bundling with home maybe.",
        # Contact PII: must not influence the vector.
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+14155550100",
        "street": "1 Main St",
        "city": "San Francisco",
        "zip_code": "94105",
        "date_of_birth": "1990-01-01",
        "ip_address": "203.0.113.9",
        "phone_hash": "a" * 64,
        "email_hash": "b" * 64,
        "address_hash": "c" * 64,
    }
    row.update(overrides)
    return row


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# The word slots of "renewal" (twice) and "divorce" under PII_HASH_KEY, pinned like the 128 floats.
PINNED_WORDS = {1963006599: 0.8165, 631700032: 0.57735}


def word_cosine(a: WordVector, b: WordVector) -> float:
    """The cosine of two unit-length word vectors, as the vector store computes it (a dot product)."""
    return sum(weight * b.get(slot, 0.0) for slot, weight in a.items())


class TestShape:
    def test_fixed_dimension_and_unit_length(self) -> None:
        for row in (lead(), {}, {"line": "life"}, lead(notes=None, details={})):
            vector = embed_lead(row, WORD_KEY).vector
            assert len(vector) == EMBEDDING_DIM == 128
            assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
            assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)

    def test_malformed_values_are_skipped_not_errors(self) -> None:
        row = lead(score="high", details={"drivers": "two", "vehicles": [None, {"year": "old"}]}, notes=42)
        assert len(embed_lead(row, WORD_KEY).vector) == EMBEDDING_DIM
        assert embed_lead(row, WORD_KEY).words == {}
        assert len(embed_lead({"line": "home", "details": ["not", "a", "mapping"]}, WORD_KEY).vector) == EMBEDDING_DIM
        # An integer beyond a float's range, NaN and infinity: not given, as any other odd value.
        odd = lead(score=10**400, details={"year_built": float("nan"), "square_feet": float("inf")})
        assert embed_lead(odd, WORD_KEY).vector == embed_lead(lead(score=None, details={}), WORD_KEY).vector

    def test_the_words_are_sparse_slots_of_unit_length_and_none_without_notes(self) -> None:
        words = embed_lead(lead(), WORD_KEY).words
        # wants, quote, before, renewal, next, month, bundling, home, maybe
        assert len(words) == 9
        assert all(isinstance(slot, int) and 0 <= slot < WORD_SLOTS for slot in words)
        assert math.isclose(math.sqrt(sum(w * w for w in words.values())), 1.0, rel_tol=1e-9)
        assert (
            embed_lead(lead(notes=None), WORD_KEY).words
            == embed_lead(lead(notes="12 the and of"), WORD_KEY).words
            == {}
        )


class TestDeterminism:
    def test_same_row_same_vector(self) -> None:
        assert embed_lead(lead(), WORD_KEY) == embed_lead(lead(), WORD_KEY)

    def test_same_vector_in_another_process_with_another_hash_seed(self) -> None:
        code = (
            "import json, sys; from leadgen.stores.embedding import embed_lead, word_key; "
            f"e = embed_lead(json.loads(sys.stdin.read()), word_key({PII_HASH_KEY!r})); "
            "print(json.dumps([e.vector, sorted(e.words.items())]))"
        )
        row = lead()
        outputs = []
        for seed in ("1", "987654"):
            env = {**os.environ, "PYTHONHASHSEED": seed}
            done = subprocess.run(
                [sys.executable, "-c", code], input=json.dumps(row), capture_output=True, text=True, env=env, check=True
            )
            outputs.append(json.loads(done.stdout))
        here = embed_lead(row, WORD_KEY)
        assert outputs[0] == outputs[1] == [here.vector, [list(item) for item in sorted(here.words.items())]]

    def test_pinned_values(self) -> None:
        """Stored vectors must stay comparable: if this fails, the hashing changed - bump EMBEDDING_VERSION
        and re-embed instead of editing the numbers."""
        vector = embed_lead({"line": "auto", "state": "CA", "score": 72}, WORD_KEY).vector
        nonzero = {i: round(x, 5) for i, x in enumerate(vector) if x != 0.0}
        assert nonzero == {11: 0.19245, 69: -0.7698, 70: -0.3849, 101: -0.19245, 112: -0.19245, 118: 0.3849}
        words = embed_lead({"notes": "renewal renewal divorce"}, WORD_KEY).words
        assert {slot: round(weight, 5) for slot, weight in words.items()} == PINNED_WORDS


class TestNoPii:
    @pytest.mark.parametrize(
        "field",
        [
            "first_name",
            "last_name",
            "email",
            "phone",
            "street",
            "city",
            "zip_code",
            "date_of_birth",
            "ip_address",
            "phone_hash",
            "email_hash",
            "address_hash",
        ],
    )
    def test_contact_fields_do_not_change_the_vector(self, field: str) -> None:
        assert embed_lead(lead(**{field: "something else entirely"}), WORD_KEY) == embed_lead(lead(), WORD_KEY)
        assert embed_lead({k: v for k, v in lead().items() if k != field}, WORD_KEY) == embed_lead(lead(), WORD_KEY)

    def test_commercial_legal_name_and_life_body_measures_are_ignored(self) -> None:
        business = {"legal_name": "Acme LLC", "entity_type": "llc", "years_in_business": 4, "employees": 9}
        base = embed_lead({"line": "commercial", "details": business}, WORD_KEY)
        assert embed_lead({"line": "commercial", "details": {**business, "legal_name": "Other Inc"}}, WORD_KEY) == base
        life = {"height_inches": 70, "weight_pounds": 180, "tobacco": False, "face_amount": 250000}
        assert embed_lead({"line": "life", "details": life}, WORD_KEY) == embed_lead(
            {"line": "life", "details": {**life, "height_inches": 60, "weight_pounds": 300}}, WORD_KEY
        )

    def test_contact_details_in_notes_are_dropped(self) -> None:
        clean = embed_lead(lead(notes="Call back about the renewal."), WORD_KEY)
        noisy = embed_lead(
            lead(notes="Call back about the renewal. Ask for Ada at 415-555-0100 or ada@example.com, 1 Main St 94105."),
            WORD_KEY,
        )
        # Only "ask", "main" survive from the noise (words with digits, addresses, e-mails and mid-sentence
        # capitalised words are dropped), so the two stay close.
        assert cosine(clean.vector, noisy.vector) > 0.95
        assert embed_lead(lead(notes="Call Ada now"), WORD_KEY) == embed_lead(lead(notes="Call Bob now"), WORD_KEY)
        assert embed_lead(lead(notes="mail ada@example.com"), WORD_KEY) == embed_lead(
            lead(notes="mail bob@example.org"), WORD_KEY
        )
        assert embed_lead(lead(notes="phone 415 555 0100"), WORD_KEY) == embed_lead(
            lead(notes="phone 212 555 0199"), WORD_KEY
        )


class TestSimilarity:
    def test_same_line_is_closer_than_another_line(self) -> None:
        base = embed_lead(lead(), WORD_KEY).vector
        same_line = embed_lead(lead(state="NV", campaign="other", score=40, notes=None), WORD_KEY).vector
        other_line = embed_lead(
            {"line": "life", "state": "CA", "score": 72, "details": {"product": "term", "face_amount": 500000}},
            WORD_KEY,
        ).vector
        assert cosine(base, same_line) > cosine(base, other_line)

    def test_scores_close_in_value_are_close_in_space(self) -> None:
        base = embed_lead({"line": "auto", "score": 75}, WORD_KEY).vector
        assert cosine(base, embed_lead({"line": "auto", "score": 65}, WORD_KEY).vector) > cosine(
            base, embed_lead({"line": "auto", "score": 25}, WORD_KEY).vector
        )

    def test_each_line_uses_its_details(self) -> None:
        details = {
            "auto": {"drivers": [{"age_first_licensed": 16}], "vehicles": [{"year": 2021, "make": "Ford"}]},
            "home": {"year_built": 1985, "square_feet": 2000, "construction": "masonry", "dwelling_coverage": 400000},
            "life": {"product": "whole", "face_amount": 100000, "tobacco": True, "term_years": None},
            "health": {"household": [{"relationship": "self", "age": 40}, {"relationship": "child", "age": 8}]},
            "commercial": {"entity_type": "llc", "employees": 12, "coverages": ["gl", "workers_comp"]},
        }
        for line, facts in details.items():
            features = lead_features({"line": line, "details": facts})
            assert any(name.startswith(f"{line}.") for name in features), line
            assert (
                embed_lead({"line": line, "details": facts}, WORD_KEY).vector
                != embed_lead({"line": line}, WORD_KEY).vector
            )

    def test_notes_add_meaning(self) -> None:
        base = embed_lead(lead(notes="Interested in a bundle of home and auto."), WORD_KEY).vector
        same_notes = embed_lead(lead(state="NV", notes="Interested in a bundle of home and auto."), WORD_KEY).vector
        other_notes = embed_lead(lead(state="NV", notes="Only wants state minimum liability."), WORD_KEY).vector
        assert cosine(base, same_notes) > cosine(base, other_notes)


class TestWords:
    def test_a_query_meets_only_the_notes_that_hold_its_words(self) -> None:
        query = query_words("bundle home and auto", WORD_KEY)
        bundling = embed_lead(lead(notes="Interested in a bundle of home and auto."), WORD_KEY).words
        half = embed_lead(lead(notes="Only the home, no bundle."), WORD_KEY).words
        other = embed_lead(lead(notes="Only wants state minimum liability."), WORD_KEY).words
        assert word_cosine(query, bundling) > word_cosine(query, half) > 0.0
        assert word_cosine(query, other) == 0.0

    def test_the_line_state_and_source_have_no_part_in_them(self) -> None:
        """In the 128 floats a note word shares its slot with structured features; its word vector is
        the same whatever the lead's other attributes."""
        notes = "Wants a quote before the renewal."
        words = embed_lead(lead(notes=notes), WORD_KEY).words
        for other in ({"line": "home"}, {"state": "TX"}, {"source_id": "other"}, {"campaign": "x", "score": 3}):
            assert embed_lead(lead(notes=notes, **other), WORD_KEY).words == words
        assert embed_lead({"notes": notes}, WORD_KEY).words == words == query_words(notes, WORD_KEY)

    def test_a_query_of_none_but_words_the_notes_leave_out_has_none(self) -> None:
        for text in ("", "12 the", "a b c", "75201 512-555-0100", "ada@example.com", "x\x00"):
            assert query_words(text, WORD_KEY) == {}, text
        # "Renewal": taken for a name.
        assert query_words("Divorce Renewal", WORD_KEY) == query_words("divorce", WORD_KEY) != {}


class TestWordKey:
    """The word slots are keyed (``word_key``): hashing a word list without the key gives other slots."""

    NOTES = "Pregnant, has diabetes; husband in rehab for alcohol. Call evenings."

    def test_unkeyed_hashes_of_the_words_are_not_their_slots(self) -> None:
        slots = set(query_words(self.NOTES, WORD_KEY))
        words = ["pregnant", "diabetes", "husband", "rehab", "alcohol", "call", "evenings"]
        assert len(slots) == len(words)
        for person in (b"leadgen.words.v1", b"leadgen.words.v3"):  # hash-v2's, and hash-v3's without its key
            unkeyed = {
                int.from_bytes(blake2b(w.encode(), digest_size=4, person=person).digest(), "little") for w in words
            }
            assert slots.isdisjoint(unkeyed)

    def test_another_key_gives_other_slots_and_the_same_key_the_same(self) -> None:
        assert set(query_words(self.NOTES, word_key("another-pii-hash-key"))).isdisjoint(
            query_words(self.NOTES, WORD_KEY)
        )
        assert query_words(self.NOTES, word_key(PII_HASH_KEY)) == query_words(self.NOTES, WORD_KEY)
