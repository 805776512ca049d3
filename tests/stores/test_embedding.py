"""The offline embedder: dimension, determinism across processes, what counts and what never does."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from leadgen.stores.embedding import EMBEDDING_DIM, embed_lead, embed_text, lead_features


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


class TestShape:
    def test_fixed_dimension_and_unit_length(self) -> None:
        for row in (lead(), {}, {"line": "life"}, lead(notes=None, details={})):
            vector = embed_lead(row)
            assert len(vector) == EMBEDDING_DIM == 128
            assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
            assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)

    def test_malformed_values_are_skipped_not_errors(self) -> None:
        row = lead(score="high", details={"drivers": "two", "vehicles": [None, {"year": "old"}]}, notes=42)
        assert len(embed_lead(row)) == EMBEDDING_DIM
        assert len(embed_lead({"line": "home", "details": ["not", "a", "mapping"]})) == EMBEDDING_DIM


class TestDeterminism:
    def test_same_row_same_vector(self) -> None:
        assert embed_lead(lead()) == embed_lead(lead())

    def test_same_vector_in_another_process_with_another_hash_seed(self) -> None:
        code = (
            "import json, sys; from leadgen.stores.embedding import embed_lead; "
            "print(json.dumps(embed_lead(json.loads(sys.stdin.read()))))"
        )
        row = lead()
        outputs = []
        for seed in ("1", "987654"):
            env = {**os.environ, "PYTHONHASHSEED": seed}
            done = subprocess.run(
                [sys.executable, "-c", code], input=json.dumps(row), capture_output=True, text=True, env=env, check=True
            )
            outputs.append(json.loads(done.stdout))
        assert outputs[0] == outputs[1] == embed_lead(row)

    def test_pinned_values(self) -> None:
        """Stored vectors must stay comparable: if this fails, the hashing changed - bump EMBEDDING_VERSION
        and re-embed instead of editing the numbers."""
        vector = embed_lead({"line": "auto", "state": "CA", "score": 72})
        nonzero = {i: round(x, 5) for i, x in enumerate(vector) if x != 0.0}
        assert nonzero == {11: 0.19245, 69: -0.7698, 70: -0.3849, 101: -0.19245, 112: -0.19245, 118: 0.3849}


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
        assert cosine(clean, noisy) > 0.95
        assert embed_lead(lead(notes="Call Ada now")) == embed_lead(lead(notes="Call Bob now"))
        assert embed_lead(lead(notes="mail ada@example.com")) == embed_lead(lead(notes="mail bob@example.org"))
        assert embed_lead(lead(notes="phone 415 555 0100")) == embed_lead(lead(notes="phone 212 555 0199"))


class TestSimilarity:
    def test_same_line_is_closer_than_another_line(self) -> None:
        base = embed_lead(lead())
        same_line = embed_lead(lead(state="NV", campaign="other", score=40, notes=None))
        other_line = embed_lead(
            {"line": "life", "state": "CA", "score": 72, "details": {"product": "term", "face_amount": 500000}}
        )
        assert cosine(base, same_line) > cosine(base, other_line)

    def test_scores_close_in_value_are_close_in_space(self) -> None:
        base = embed_lead({"line": "auto", "score": 75})
        assert cosine(base, embed_lead({"line": "auto", "score": 65})) > cosine(
            base, embed_lead({"line": "auto", "score": 25})
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
            assert embed_lead({"line": line, "details": facts}) != embed_lead({"line": line})

    def test_notes_add_meaning(self) -> None:
        query = embed_text("bundle home and auto")
        bundling = embed_lead(lead(notes="Interested in a bundle of home and auto."))
        other = embed_lead(lead(notes="Only wants state minimum liability."))
        assert cosine(query, bundling) > cosine(query, other)
        assert len(query) == EMBEDDING_DIM
