"""The inbox shows a phone number's extension with it, once the agent accepted the lead."""

from __future__ import annotations

from tests.frontend.stack import ANA, Platform, csrf_token, signed_in
from tests.frontend.test_frontend_inbox import _assignment_of


async def test_the_extension_is_shown_and_dialled_with_the_number_once_accepted(platform: Platform) -> None:
    await platform.routed_lead("214-555-0134 ext. 42")
    async with signed_in(platform, ANA) as browser:
        offered = (await browser.get("/inbox")).text
        assignment = _assignment_of(offered)
        accept = f"/inbox/{assignment}/accept"
        answer = await browser.post(accept, data={"csrf_token": csrf_token(offered, accept)})
        accepted = (await browser.get(answer.headers["location"])).text
    assert "555-0134" not in offered and "ext. 42" not in offered
    # The comma: a phone dials the extension after a pause, once the switchboard answers.
    assert '<a href="tel:+12145550134,42">+12145550134 ext. 42</a>' in accepted
