"""The dashboard's search page: what it shows for words that find nothing and for filters the
orchestrator refuses."""

from __future__ import annotations

from tests.frontend.stack import ADMIN, Platform, signed_in


class TestSearchPage:
    async def test_words_the_notes_leave_out_find_nothing(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("512-555-0142")
        async with signed_in(platform, ADMIN) as browser:
            answer = await browser.get("/search", params={"q": "12 the"})
        assert answer.status_code == 200
        assert "No lead's notes hold these words." in answer.text and f"/leads/{lead_id}" not in answer.text

    async def test_a_state_that_is_none_is_named_above_the_form_kept_as_typed(self, platform: Platform) -> None:
        await platform.routed_lead("512-555-0142")
        async with signed_in(platform, ADMIN) as browser:
            answer = await browser.get("/search", params={"q": "quote", "state": "ZZ"})
        assert answer.status_code == 422
        assert '<p class="error-message" role="alert">State: not a US state code</p>' in answer.text
        assert 'name="state" value="ZZ"' in answer.text and "No lead's notes hold these words." not in answer.text

    async def test_a_line_edited_into_the_address_is_named(self, platform: Platform) -> None:
        async with signed_in(platform, ADMIN) as browser:
            answer = await browser.get("/search", params={"q": "quote", "line": "pets"})
        assert answer.status_code == 422
        assert '<p class="error-message" role="alert">Line: Input should be' in answer.text

    async def test_fewer_than_two_characters_are_named_not_searched(self, platform: Platform) -> None:
        await platform.routed_lead("512-555-0142")
        async with signed_in(platform, ADMIN) as browser:
            for words in ("a", "   ", " b "):
                answer = await browser.get("/search", params={"q": words})
                assert answer.status_code == 422, words
                assert '<p class="error-message" role="alert">Words: type at least 2 characters</p>' in answer.text
                assert "No lead's notes hold these words." not in answer.text
            first_visit = await browser.get("/search")
        assert first_visit.status_code == 200 and "error-message" not in first_visit.text
