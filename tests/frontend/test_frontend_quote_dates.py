"""The quote form's current policy date: one out of bounds is named next to its input."""

from __future__ import annotations

from tests.frontend.stack import Platform
from tests.frontend.test_frontend_quote import AUTO, _stored, _submit


async def test_a_policy_date_out_of_bounds_is_shown_next_to_its_input(platform: Platform) -> None:
    async with platform.browser() as browser:
        answer = await _submit(browser, "auto", {**AUTO, "policy_expires_on": "1900-01-01"})
    assert answer.status_code == 422
    error = answer.text.index('id="f-policy_expires_on-error"')
    assert "should be from " in answer.text[error : error + 300]
    assert 'aria-describedby="f-policy_expires_on-error"' in answer.text
    assert 'value="1900-01-01"' in answer.text  # kept as typed, to correct
    assert await _stored(platform) == []
