"""What may leave the platform (redaction, the user message) and how an answer is read."""

from __future__ import annotations

import pytest

from leadgen.insights.prompt import MAX_NOTES_CHARS, InvalidAnswer, minimise, parse_answer, user_message
from leadgen.insights.schemas import Intent, LLMAnswer, Urgency


class TestMinimise:
    @pytest.mark.parametrize(
        ("notes", "kept", "gone"),
        [
            ("call 512-555-0142 after 5", "[phone]", "555-0142"),
            ("call (512) 555 0142", "[phone]", "555 0142"),
            ("text +1 512.555.0142", "[phone]", "555.0142"),
            ("mail me at jane.doe+ins@example.co.uk", "[email]", "example.co.uk"),
            ("ssn 123-45-6789", "[number]", "6789"),
            ("policy 98765432 with Acme", "[number]", "98765432"),
            ("VIN digits 1234 5678 9012", "[number]", "5678"),
            ("we live at 1200 North Lamar Blvd. in Austin", "[address]", "Lamar"),
            ("zip 78701-1234 please", "[number]", "78701"),
            ("Hello, my name is Maria Lopez and I need a quote", "my name is [name]", "Maria"),
            ("This is Tom, need coverage", "This is [name]", "Tom"),
            ("DOB 03/14/1962, call me", "DOB [date]", "1962"),
            ("born March 14, 1962", "born [date]", "1962"),
            ("born 14 Mar 1985", "born [date]", "1985"),
            ("dob 3-14-62", "dob [date]", "62"),
            ("birthday 1962-03-14", "birthday [date]", "1962"),
            ("sent from 203.0.113.77 at home", "[ip]", "203.0.113"),
            ("my ip 2001:db8:0:0:1:0:0:1 or fe80::1", "[ip] or [ip]", "db8"),
            ("we are at 4500 N Main in Austin", "[address]", "Main"),
        ],
    )
    def test_masks(self, notes: str, kept: str, gone: str) -> None:
        text = minimise(notes)
        assert kept in text
        assert gone not in text

    def test_ordinary_words_stay(self) -> None:
        notes = "This is urgent, I am ready to buy; premium went up 30% on 2 cars"
        assert minimise(notes) == notes

    def test_what_says_how_soon_stays(self) -> None:
        """Dates of this decade (a renewal, a closing), times of day, a car's year and make."""
        notes = "renews 12/01/2026, closing on March 3, 2027; call after 10:30 or 10:30:15; my 2019 Honda Civic"
        assert minimise(notes) == notes

    def test_known_values_are_masked_as_whole_words(self) -> None:
        text = minimise("Al said Alvarez family, 14 Elm St. also fine", known_pii=["Al", "Alvarez", " ", None])
        assert text == "[personal] said [personal] family, [address] also fine"

    def test_length_is_capped(self) -> None:
        assert len(minimise("x" * 5000)) == MAX_NOTES_CHARS


class TestUserMessage:
    def test_only_the_line_and_the_redacted_notes(self) -> None:
        message = user_message("Jane: 512-555-0142, ready to buy", " Auto ", known_pii=["Jane"])
        assert message == "Insurance line: auto\nNotes:\n<<<\n[personal]: [phone], ready to buy\n>>>"

    def test_unknown_line_is_not_passed_through(self) -> None:
        assert user_message("hi", "Jane's boat").startswith("Insurance line: other\n")


class TestParseAnswer:
    def test_valid(self) -> None:
        assert parse_answer('{"intent": "just_browsing", "urgency": "low", "reason": "just curious"}') == LLMAnswer(
            intent=Intent.JUST_BROWSING, urgency=Urgency.LOW, reason="just curious"
        )

    @pytest.mark.parametrize(
        "text",
        [None, "", "  ", "{}", '{"intent": 1, "urgency": "low", "reason": "r"}', '{"intent": "unknown"}', "nope"],
    )
    def test_invalid(self, text: str | None) -> None:
        with pytest.raises(InvalidAnswer):
            parse_answer(text)
