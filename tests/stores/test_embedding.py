"""The offline embedder: dimension, determinism across processes, what counts and what never does,
and the word vectors of word search."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from leadgen.stores.embedding import EMBEDDING_DIM, WORD_SLOTS, WordVector, embed_lead, lead_features, query_words


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


# The word slots of "renewal" (twice) and "divorce", pinned like the 128 floats.
PINNED_WORDS = {2150772367: 0.8165, 2065256384: 0.57735}


def word_cosine(a: WordVector, b: WordVector) -> float:
    """The cosine of two unit-length word vectors, as the vector store computes it (a dot product)."""
    return sum(weight * b.get(slot, 0.0) for slot, weight in a.items())


class TestShape:
    def test_fixed_dimension_and_unit_length(self) -> None:
        for row in (lead(), {}, {"line": "life"}, lead(notes=None, details={})):
            vector = embed_lead(row).vector
            assert len(vector) == EMBEDDING_DIM == 128
            assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
            assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)

    def test_malformed_values_are_skipped_not_errors(self) -> None:
        row = lead(score="high", details={"drivers": "two", "vehicles": [None, {"year": "old"}]}, notes=42)
        assert len(embed_lead(row).vector) == EMBEDDING_DIM
        assert embed_lead(row).words == {}
        assert len(embed_lead({"line": "home", "details": ["not", "a", "mapping"]}).vector) == EMBEDDING_DIM
        # An integer beyond a float's range, NaN and infinity: not given, as any other odd value.
        odd = lead(score=10**400, details={"year_built": float("nan"), "square_feet": float("inf")})
        assert embed_lead(odd).vector == embed_lead(lead(score=None, details={})).vector

    def test_the_words_are_sparse_slots_of_unit_length_and_none_without_notes(self) -> None:
        words = embed_lead(lead()).words
        # wants, quote, before, renewal, next, month, bundling, home, maybe
        assert len(words) == 9
        assert all(isinstance(slot, int) and 0 <= slot < WORD_SLOTS for slot in words)
        assert math.isclose(math.sqrt(sum(w * w for w in words.values())), 1.0, rel_tol=1e-9)
        assert embed_lead(lead(notes=None)).words == embed_lead(lead(notes="12 the and of")).words == {}


class TestDeterminism:
    def test_same_row_same_vector(self) -> None:
        assert embed_lead(lead()) == embed_lead(lead())

    def test_same_vector_in_another_process_with_another_hash_seed(self) -> None:
        code = (
            "import json, sys; from leadgen.stores.embedding import embed_lead; "
            "e = embed_lead(json.loads(sys.stdin.read())); print(json.dumps([e.vector, sorted(e.words.items())]))"
        )
        row = lead()
        outputs = []
        for seed in ("1", "987654"):
            env = {**os.environ, "PYTHONHASHSEED": seed}
            done = subprocess.run(
                [sys.executable, "-c", code], input=json.dumps(row), capture_output=True, text=True, env=env, check=True
            )
            outputs.append(json.loads(done.stdout))
        here = embed_lead(row)
        assert outputs[0] == outputs[1] == [here.vector, [list(item) for item in sorted(here.words.items())]]

    def test_pinned_values(self) -> None:
        """Stored vectors must stay comparable: if this fails, the hashing changed - bump EMBEDDING_VERSION
        and re-embed instead of editing the numbers."""
        vector = embed_lead({"line": "auto", "state": "CA", "score": 72}).vector
        nonzero = {i: round(x, 5) for i, x in enumerate(vector) if x != 0.0}
        assert nonzero == {11: 0.19245, 69: -0.7698, 70: -0.3849, 101: -0.19245, 112: -0.19245, 118: 0.3849}
        words = embed_lead({"notes": "renewal renewal divorce"}).words
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
        assert embed_lead(lead(**{field: "something else entirely"})) == embed_lead(lead())
        assert embed_lead({k: v for k, v in lead().items() if k != field}) == embed_lead(lead())

    def test_commercial_legal_name_and_life_body_measures_are_ignored(self) -> None:
        business = {"legal_name": "Acme LLC", "entity_type": "llc", "years_in_business": 4, "employees": 9}
        base = embed_lead({"line": "commercial", "details": business})
        assert embed_lead({"line": "commercial", "details": {**business, "legal_name": "Other Inc"}}) == base
        life = {"height_inches": 70, "weight_pounds": 180, "tobacco": False, "face_amount": 250000}
        assert embed_lead({"line": "life", "details": life}) == embed_lead(
            {"line": "life", "details": {**life, "height_inches": 60, "weight_pounds": 300}}
        )

    def test_contact_details_in_notes_are_dropped(self) -> None:
        clean = embed_lead(lead(notes="Call back about the renewal."))
        noisy = embed_lead(
            lead(notes="Call back about the renewal. Ask for Ada at 415-555-0100 or ada@example.com, 1 Main St 94105.")
        )
        # Only "ask", "main" survive from the noise (words with digits, addresses, e-mails and mid-sentence
        # capitalised words are dropped), so the two stay close.
        assert cosine(clean.vector, noisy.vector) > 0.95
        assert embed_lead(lead(notes="Call Ada now")) == embed_lead(lead(notes="Call Bob now"))
        assert embed_lead(lead(notes="mail ada@example.com")) == embed_lead(lead(notes="mail bob@example.org"))
        assert embed_lead(lead(notes="phone 415 555 0100")) == embed_lead(lead(notes="phone 212 555 0199"))


class TestSimilarity:
    def test_same_line_is_closer_than_another_line(self) -> None:
        base = embed_lead(lead()).vector
        same_line = embed_lead(lead(state="NV", campaign="other", score=40, notes=None)).vector
        other_line = embed_lead(
            {"line": "life", "state": "CA", "score": 72, "details": {"product": "term", "face_amount": 500000}}
        ).vector
        assert cosine(base, same_line) > cosine(base, other_line)

    def test_scores_close_in_value_are_close_in_space(self) -> None:
        base = embed_lead({"line": "auto", "score": 75}).vector
        assert cosine(base, embed_lead({"line": "auto", "score": 65}).vector) > cosine(
            base, embed_lead({"line": "auto", "score": 25}).vector
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
            assert embed_lead({"line": line, "details": facts}).vector != embed_lead({"line": line}).vector

    def test_notes_add_meaning(self) -> None:
        base = embed_lead(lead(notes="Interested in a bundle of home and auto.")).vector
        same_notes = embed_lead(lead(state="NV", notes="Interested in a bundle of home and auto.")).vector
        other_notes = embed_lead(lead(state="NV", notes="Only wants state minimum liability.")).vector
        assert cosine(base, same_notes) > cosine(base, other_notes)


class TestWords:
    def test_a_query_meets_only_the_notes_that_hold_its_words(self) -> None:
        query = query_words("bundle home and auto")
        bundling = embed_lead(lead(notes="Interested in a bundle of home and auto.")).words
        half = embed_lead(lead(notes="Only the home, no bundle.")).words
        other = embed_lead(lead(notes="Only wants state minimum liability.")).words
        assert word_cosine(query, bundling) > word_cosine(query, half) > 0.0
        assert word_cosine(query, other) == 0.0

    def test_the_line_state_and_source_have_no_part_in_them(self) -> None:
        """In the 128 floats a note word shares its slot with structured features; its word vector is
        the same whatever the lead's other attributes."""
        notes = "Wants a quote before the renewal."
        words = embed_lead(lead(notes=notes)).words
        for other in ({"line": "home"}, {"state": "TX"}, {"source_id": "other"}, {"campaign": "x", "score": 3}):
            assert embed_lead(lead(notes=notes, **other)).words == words
        assert embed_lead({"notes": notes}).words == words == query_words(notes)

    def test_a_query_of_none_but_words_the_notes_leave_out_has_none(self) -> None:
        for text in ("", "12 the", "a b c", "75201 512-555-0100", "ada@example.com", "x\x00"):
            assert query_words(text) == {}, text
        assert query_words("Divorce Renewal") == query_words("divorce") != {}  # "Renewal": taken for a name
