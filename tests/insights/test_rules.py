"""The local classifier: one scenario per intent and urgency, negations, line-specific triggers, empty text."""

from __future__ import annotations

import time

import pytest

from leadgen.insights.rules import classify
from leadgen.insights.schemas import Intent, Urgency


def answer(notes: str | None, line: str = "auto") -> tuple[Intent, Urgency]:
    result = classify(notes, line)
    return result.intent, result.urgency


class TestIntent:
    @pytest.mark.parametrize(
        ("notes", "line", "intent"),
        [
            ("Ready to buy, please call me", "auto", Intent.BUY_NOW),
            ("want to purchase a policy for my truck", "auto", Intent.BUY_NOW),
            ("I don't have insurance at the moment", "auto", Intent.BUY_NOW),
            ("Comparing prices, want a better rate than Geico", "auto", Intent.COMPARING),
            ("shopping around for cheaper coverage", "home", Intent.COMPARING),
            ("My policy expires soon and I want to see options", "home", Intent.RENEWAL_SHOPPING),
            ("premium went up 30% at renewal", "auto", Intent.RENEWAL_SHOPPING),
            ("Just curious what term life costs", "life", Intent.JUST_BROWSING),
            ("planning ahead, want a rough idea for next year", "health", Intent.JUST_BROWSING),
            ("Has two dogs and a pool", "home", Intent.UNKNOWN),
        ],
    )
    def test_each_intent(self, notes: str, line: str, intent: Intent) -> None:
        assert classify(notes, line).intent is intent

    def test_renewal_absorbs_comparing(self) -> None:
        notes = "renewal came in high so I'm shopping around and comparing quotes for a better price"
        assert classify(notes, "home").intent is Intent.RENEWAL_SHOPPING

    def test_buy_now_wins_a_tie(self) -> None:
        assert classify("ready to buy; my policy expires", "auto").intent is Intent.BUY_NOW

    @pytest.mark.parametrize(
        ("line", "notes"),
        [
            ("auto", "just bought a used car, need proof of insurance to drive it home"),
            ("home", "closing on the house on the 14th, lender requires a binder"),
            ("health", "lost my job last week"),
            ("commercial", "landlord requires a certificate of insurance"),
        ],
    )
    def test_line_triggers_mean_buy_now_and_high(self, line: str, notes: str) -> None:
        assert answer(notes, line) == (Intent.BUY_NOW, Urgency.HIGH)

    def test_line_triggers_only_apply_to_their_line(self) -> None:
        assert classify("lost my job last week", "auto").intent is Intent.UNKNOWN
        assert classify("escrow closes friday", "auto").intent is Intent.UNKNOWN


class TestNegation:
    @pytest.mark.parametrize(
        ("notes", "intent"),
        [
            ("Not ready to buy yet", Intent.JUST_BROWSING),
            ("I'm not looking to buy anything right now", Intent.JUST_BROWSING),
            ("don't need insurance, only asking", Intent.JUST_BROWSING),
            ("not just browsing - I want to buy", Intent.BUY_NOW),
            ("I'm not comparing, just want to sign up", Intent.BUY_NOW),
        ],
    )
    def test_negated_intent(self, notes: str, intent: Intent) -> None:
        assert classify(notes, "auto").intent is intent

    @pytest.mark.parametrize(
        "notes", ["no rush", "not in a hurry", "this is not urgent", "it isn't urgent", "never a rush with me"]
    )
    def test_negated_urgency_is_low(self, notes: str) -> None:
        assert classify(notes, "auto").urgency is Urgency.LOW

    def test_negation_stops_at_the_clause(self) -> None:
        assert answer("not sure about deductibles, but ready to buy today") == (Intent.BUY_NOW, Urgency.HIGH)
        assert answer("I have no accidents and want to buy") == (Intent.BUY_NOW, Urgency.HIGH)

    def test_negation_belongs_to_its_own_phrase(self) -> None:
        # "don't" negates nothing after "don't have insurance": it is part of that phrase.
        assert answer("I don't have insurance right now") == (Intent.BUY_NOW, Urgency.HIGH)

    def test_negated_phrase_without_an_opposite_counts_for_nothing(self) -> None:
        assert classify("not up for renewal", "home").intent is Intent.UNKNOWN

    def test_negation_is_reported(self) -> None:
        result = classify("No rush, just curious", "life")
        assert result.evidence == ("'no rush' -> urgency low (negated)", "'just curious' -> intent just_browsing")


class TestUrgency:
    @pytest.mark.parametrize(
        ("notes", "urgency"),
        [
            ("need coverage ASAP", Urgency.HIGH),
            ("want it started tomorrow", Urgency.HIGH),
            ("must be done by Friday", Urgency.HIGH),
            ("sometime next week", Urgency.MEDIUM),
            ("policy is up end of the month", Urgency.MEDIUM),
            ("whenever works, no set timeline", Urgency.LOW),
            ("maybe next year", Urgency.LOW),
        ],
    )
    def test_time_phrases(self, notes: str, urgency: Urgency) -> None:
        assert classify(notes, "auto").urgency is urgency

    @pytest.mark.parametrize(
        ("notes", "urgency"),
        [
            ("current policy expires in 3 days", Urgency.HIGH),
            ("renews within a week", Urgency.HIGH),
            ("expires in two weeks", Urgency.MEDIUM),
            ("renewal in 30 days", Urgency.MEDIUM),
            ("ends in a couple of months", Urgency.LOW),
            ("in several months", Urgency.LOW),
        ],
    )
    def test_timeframes_by_length(self, notes: str, urgency: Urgency) -> None:
        assert classify(notes, "home").urgency is urgency

    def test_a_deadline_beats_no_rush(self) -> None:
        assert classify("no rush really, but it has to start tomorrow", "auto").urgency is Urgency.HIGH

    @pytest.mark.parametrize(
        ("notes", "urgency"),
        [
            ("ready to buy", Urgency.HIGH),
            ("my renewal is coming", Urgency.MEDIUM),
            ("want to compare rates", Urgency.MEDIUM),
            ("just browsing", Urgency.LOW),
        ],
    )
    def test_without_time_phrases_the_intent_decides(self, notes: str, urgency: Urgency) -> None:
        result = classify(notes, "auto")
        assert result.urgency is urgency
        assert "implied by the intent" in result.reason()


class TestEmptyAndEvidence:
    @pytest.mark.parametrize("notes", [None, "", "   \n\t ", "!!!"])
    def test_empty_text(self, notes: str | None) -> None:
        result = classify(notes, "auto")
        assert (result.intent, result.urgency, result.matches) == (Intent.UNKNOWN, Urgency.LOW, ())

    def test_evidence_in_text_order_with_both_labels(self) -> None:
        result = classify("At the dealership now, READY TO BUY today", "auto")
        assert result.evidence == (
            "'at the dealership' -> intent buy_now + urgency high",
            "'ready to buy' -> intent buy_now",
            "'today' -> urgency high",
        )
        assert result.reason() == (
            "buy_now from 'at the dealership', 'ready to buy'; urgency high from 'at the dealership', 'today'"
        )

    def test_curly_apostrophes(self) -> None:
        assert answer("I don\u2019t have insurance") == (Intent.BUY_NOW, Urgency.HIGH)

    def test_fast_on_the_longest_notes(self) -> None:
        # 2,000 characters dense with phrases: about 15 ms on a loaded 2-CPU machine; the bound leaves room.
        notes = ("We just moved, comparing quotes, not in a hurry, renewal in 30 days. " * 30)[:2000]
        started = time.perf_counter()
        for _ in range(10):
            classify(notes, "auto")
        assert (time.perf_counter() - started) / 10 < 0.1
